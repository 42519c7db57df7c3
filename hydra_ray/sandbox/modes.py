"""Measurement modes and which programs cannot use the in-process ones (pure: the standard library only).

- ``process``: every run is a fresh ``python prog.py`` (what the sandbox always did). Every figure
  includes the interpreter's start-up (tens of ms, ~13 MB).
- ``inprocess``: a warm runner inside the same sandbox forks a child per run, which executes the
  pre-compiled program as ``__main__`` under the same limits and private uid. Latency runs from the
  start of execution (timestamp written by the child before any program code runs) to the child's
  exit (reaped outside it), so the fork is outside it and the exit inside; memory is RSS growth over
  the fork point; both floors are calibrated per node.
- ``function``: the entry point called in a ``timeit``-style loop inside such a child; figures per call.

A program whose behaviour depends on being its own process falls back to ``process`` mode; this
module finds the ones that say so in their source. Programs that fail in-process but pass as a
process are found at run time by the profiler.
"""
from __future__ import annotations

import ast

MODES = ("process", "inprocess", "function")

_PROCESS_MODULES = {"multiprocessing", "subprocess", "concurrent.futures", "pty"}
_PROCESS_CALLS = {("os", n) for n in ("fork", "forkpty", "execv", "execve", "execl", "execle", "execlp",
                                      "execlpe", "execvp", "execvpe", "spawnv", "spawnve", "spawnl",
                                      "spawnle", "spawnlp", "spawnvp", "posix_spawn", "posix_spawnp", "system",
                                      "popen")} | {("sys", "executable"), ("sys", "orig_argv")}


def process_only_reason(source: str) -> str | None:
    """Why ``source`` must run as its own process, or None. Conservative: a mention is enough."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return None   # it fails either way; the verdict says why
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            names = []
        for name in names:
            hit = next((m for m in _PROCESS_MODULES if name == m or name.startswith(m + ".")), None)
            if hit:
                return f"imports {hit} (child processes)"
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "sys"):
            for a in node.names:
                if (node.module, a.name) in _PROCESS_CALLS:
                    return f"uses {node.module}.{a.name} (forks, re-executes itself or reads its command line)"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and (node.value.id, node.attr) in _PROCESS_CALLS:
            return f"uses {node.value.id}.{node.attr} (forks, re-executes itself or reads its command line)"
    return None
