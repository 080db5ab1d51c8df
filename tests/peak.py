"""A process's own peak memory (standard library only, importable in child processes)."""
from __future__ import annotations


def peak_rss() -> int:
    """VmHWM in bytes: ru_maxrss would include the parent's RSS (Linux keeps it across
    fork+exec), so a child started from a large test process would report that instead."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")
