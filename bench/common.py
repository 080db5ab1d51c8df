"""Helpers shared by the benchmark scripts (standard library only)."""
from __future__ import annotations

import resource


def peak_rss() -> int:
    """This process's peak RSS in bytes, measured inside the process itself. VmHWM, not
    ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec, so a child
    would report at least the parent's RSS."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table: one header row, then one line per row of cells (str() of each)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
