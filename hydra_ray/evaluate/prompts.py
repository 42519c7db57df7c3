"""Prompt templates of the baseline study (Hydra paper): objective runtime | memory | balanced ×
style minimal | detailed, six configurations named "<objective>/<style>", and answer parsing.

All wording lives here so a change of template is one diff, and the response cache (keyed on the
request) notices it.
"""
from __future__ import annotations

import ast
import re

OBJECTIVES = ("runtime", "memory", "balanced")
STYLES = ("minimal", "detailed")
PROMPT_CONFIGS = tuple(f"{o}/{s}" for o in OBJECTIVES for s in STYLES)

# Objective → weights over METRIC_NAMES (latency, memory, cycles, throughput, energy); used to pick
# the best of several samples and to place the configuration in steerability analyses.
OBJECTIVE_WEIGHTS = {
    "runtime": (1.0, 0.0, 0.0, 0.0, 0.0),
    "memory": (0.0, 1.0, 0.0, 0.0, 0.0),
    "balanced": (0.5, 0.5, 0.0, 0.0, 0.0),
}

SYSTEM = "You are an expert Python performance engineer. You rewrite programs to make them more efficient."

GOALS = {
    "runtime": "run as fast as possible",
    "memory": "use as little peak memory as possible",
    "balanced": "run faster and use less peak memory, balancing the two",
}

GUIDANCE = {
    "runtime": [
        "Prefer a better algorithm or data structure (lower asymptotic complexity) over micro-tuning.",
        "Remove repeated or redundant work: recomputation in loops, sorting or reading data more than once.",
        "Use built-ins and the standard library (sum, sorted, set, dict, collections, itertools) "
        "instead of hand-written Python loops.",
        "Read input in bulk (sys.stdin.read) and write output in one call when there is a lot of it.",
    ],
    "memory": [
        "Avoid materialising large intermediate lists: stream with generators and iterators.",
        "Process input incrementally instead of holding all of it when the result allows it.",
        "Choose compact representations (array, bytearray, ints instead of strings, tuples instead of dicts).",
        "Drop references to large objects as soon as they are no longer needed.",
    ],
    "balanced": [
        "Improve both runtime and peak memory; do not trade a large loss on one for a small gain on the other.",
        "Prefer a better algorithm or data structure, and remove redundant work.",
        "Use built-ins and the standard library instead of hand-written loops.",
        "Avoid materialising large intermediate collections when streaming works as well.",
    ],
}

MINIMAL = (
    "Optimize the following Python program so that it will {goal}.\n"
    "Return the complete optimized program in one ```python code block.\n\n"
    "```python\n{code}\n```"
)

DETAILED = (
    "Optimize the following Python program so that it will {goal}.\n\n"
    "Requirements:\n"
    "- Keep the observable behaviour exactly the same: the same output for every input, the same "
    "input and output format, and the same function names and signatures where the program defines "
    "functions that others call.\n"
    "- Use only the Python standard library.\n"
    "- Return the complete program, not a fragment or a diff, in one ```python code block. "
    "Explanations, if any, go after the code block.\n\n"
    "Techniques to consider:\n{guidance}\n\n"
    "Program:\n```python\n{code}\n```"
)


def parse_config(config: str) -> tuple[str, str]:
    objective, _, style = config.partition("/")
    if objective not in OBJECTIVES or style not in STYLES:
        raise ValueError(f"prompt configuration {config!r}: expected '<objective>/<style>' with objective "
                         f"in {OBJECTIVES} and style in {STYLES}, e.g. 'runtime/minimal'")
    return objective, style


def render(config: str, code: str) -> list[dict[str, str]]:
    """Chat messages (system + user) for one prompt configuration and one original program."""
    objective, style = parse_config(config)
    body = code.rstrip("\n")
    if style == "minimal":
        user = MINIMAL.format(goal=GOALS[objective], code=body)
    else:
        guidance = "\n".join(f"- {g}" for g in GUIDANCE[objective])
        user = DETAILED.format(goal=GOALS[objective], guidance=guidance, code=body)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PY_TAGS = {"python", "py", "python3", "py3"}


def extract_code(text: str | None) -> str | None:
    """The program in a model's answer, or None.

    Fenced blocks tagged python win over untagged ones; among several, the longest (the full program
    rather than a snippet in the explanation). An unterminated fence (answer cut at max_tokens) still
    yields its content, which will then fail its tests rather than vanish silently. An answer with
    no fence counts only if it parses as Python on its own.
    """
    if not text or not text.strip():
        return None
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(text)]
    tagged = [b for t, b in blocks if t in _PY_TAGS]
    untagged = [b for t, b in blocks if not t]
    for group in (tagged, untagged):
        group = [b for b in group if b.strip()]
        if group:
            return max(reversed(group), key=len).strip("\n") + "\n"
    if "```" in text:
        return None
    try:
        ast.parse(text)
    except SyntaxError:
        return None
    return text.strip("\n") + "\n"
