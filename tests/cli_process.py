"""Run the command line as a user does: a subprocess of ``cli.py``, stderr on a pipe or,
with ``tty_stderr``, on a pseudo-terminal (progress bars only draw on a terminal)."""
import os
import subprocess
import sys

from conftest import REPO


def nnconvert(*args, tty_stderr=False):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "cli.py", *map(str, args)]
    if not tty_stderr:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    import pty

    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, cwd=REPO, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = p.stdout.read().decode()
    p.wait(timeout=600)
    os.close(master)
    p.stderr = b"".join(chunks).decode(errors="replace")
    return subprocess.CompletedProcess(cmd, p.returncode, out, p.stderr)
