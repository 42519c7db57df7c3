"""What `hydra-ray profile` says under a verdict other than `passed` (its lines, kept beside the verdicts
they explain): why nothing was timed, and what to change. Pure functions of the output row, so the
command stays a printer.

Only programs that pass are timed. Before these lines a failed run printed the mode's floor and
"differences below a few times that spread are reported as not significant" and then no metric, so
a user could not tell whether measuring had failed; a limit was named without the setting that raises
it; and a program that opened a file beside it met FileNotFoundError with nothing saying the sandbox
shows it no host files (README, "The sandbox").
"""
from __future__ import annotations

import re

# verdict detail (hydra_ray.sandbox.runner) -> the profile setting that raises that limit
_LIMITS: tuple[tuple[str, str], ...] = (
    ("wall time limit", "profile.sandbox.wall_time_s"),
    ("CPU time limit", "profile.sandbox.cpu_time_s"),
    ("memory limit", "profile.sandbox.memory_mb"),
    ("stdout exceeded", "profile.sandbox.max_output_kb"),
)
# A file the program opened that is not in the sandbox: a relative name, or a path outside what it sees.
_NO_FILE = re.compile(r"(FileNotFoundError|PermissionError): \[Errno \d+\] [^:\n]*: '([^'\n]*)'")


def not_timed_line(verdict: str) -> str:
    """Why no metric follows the verdict."""
    return f"  not timed: only a program that passes is measured (this one: {verdict})"


def hints(verdict: str, detail: str, stderr_tail: str, has_input: bool, has_expected: bool) -> list[str]:
    """Lines (each starting "  hint: ") with what to change for this verdict; empty when none applies."""
    out: list[str] = []
    for words, setting in _LIMITS:
        if words in (detail or ""):
            out.append(f"  hint: a longer or bigger run needs a higher limit: {setting}=N "
                       "(a key=value after the program)")
    missing = _NO_FILE.search(stderr_tail or "")
    if verdict == "runtime_error" and missing:
        out.append(f"  hint: {missing.group(2)!r}: the sandbox shows a program no host files, only the system "
                   "directories and a private empty /tmp (README, \"The sandbox\"); give its data on stdin "
                   "(--input FILE)")
    if verdict == "runtime_error" and not has_input and "EOFError" in (stderr_tail or ""):
        out.append("  hint: stdin was empty (no --input given); --input FILE gives the program its input")
    if verdict == "wrong_answer" and has_expected:
        out.append("  hint: without --expected a program that runs cleanly counts as passed and is timed")
    return out
