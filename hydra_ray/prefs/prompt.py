'''The chat template, in one place: the prompt states the objective weights and holds the original program.

Prompt (TRL conversational format, a list of ``{"role", "content"}`` messages)::

    system:    SYSTEM_PROMPT (below)
    user:      Optimise the following Python program for these objectives (weights sum to 1;
               a higher weight matters more): runtime 0.55, peak memory 0.05, CPU cycles 0.20,
               throughput 0.10, energy 0.10.
               Keep its behaviour identical: same output for every input on standard input.
               Reply with the complete program in one ```python code block.

               ```python
               <original program>
               ```

Completion (chosen or rejected): one assistant message whose content is the program in a
```` ```python ```` fence. Weights are printed with two decimals in METRIC_NAMES order, with the
metrics' human labels (``hydra_ray.metrics.names``). A program that itself contains a run of three or
more backticks is fenced with a longer run (CommonMark rule), and :func:`extract_code` reads it back.
'''
from __future__ import annotations

import re
from typing import Sequence

from hydra_ray.metrics.names import METRICS

SYSTEM_PROMPT = ("You are an expert Python performance engineer. You rewrite programs so that they "
                 "produce exactly the same output and are better on the objectives the user weights most.")

USER_TEMPLATE = ("Optimise the following Python program for these objectives (weights sum to 1; "
                 "a higher weight matters more): {objectives}.\n"
                 "Keep its behaviour identical: same output for every input on standard input.\n"
                 "Reply with the complete program in one ```python code block.\n\n"
                 "{program}")


def format_weights(weights: Sequence[float]) -> str:
    """``runtime 0.55, peak memory 0.05, …`` in METRIC_NAMES order."""
    w = [float(x) for x in weights]
    if len(w) != len(METRICS):
        raise ValueError(f"weights need {len(METRICS)} values ({', '.join(m.name for m in METRICS)}), got {len(w)}")
    return ", ".join(f"{m.label} {x:.2f}" for m, x in zip(METRICS, w))


def fence(code: str) -> str:
    """``code`` in a python fence longer than any backtick run inside it."""
    longest = max((len(r) for r in re.findall(r"`{3,}", code)), default=2)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}python\n{code.rstrip()}\n{ticks}"


def render_messages(original_code: str, weights: Sequence[float]) -> list[dict[str, str]]:
    """System + user messages: the weights stated explicitly, the original program fenced."""
    user = USER_TEMPLATE.format(objectives=format_weights(weights), program=fence(original_code))
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def render_completion(code: str) -> list[dict[str, str]]:
    """One assistant message holding ``code`` in a python fence."""
    return [{"role": "assistant", "content": fence(code)}]


_OPEN = re.compile(r"^(?P<ticks>`{3,})[ \t]*(?P<lang>[\w+-]*)[ \t]*$", re.MULTILINE)


def extract_code(text: str) -> str | None:
    """The first fenced code block (``python``/``py``/unlabelled preferred over other languages).

    None when there is no complete block (no fence, or an opening fence never closed, e.g. a
    generation cut off by the token limit).
    """
    blocks: list[tuple[str, str]] = []
    pos = 0
    while True:
        m = _OPEN.search(text, pos)
        if not m:
            break
        ticks = m.group("ticks")
        close = re.compile(rf"^{ticks}`*[ \t]*$", re.MULTILINE).search(text, m.end())
        if not close:
            break
        body = text[m.end() + 1 if m.end() < len(text) else m.end():close.start()]
        blocks.append((m.group("lang").lower(), body.rstrip("\n")))
        pos = close.end()
    for lang, body in blocks:
        if lang in ("python", "py", "python3", ""):
            return body
    return blocks[0][1] if blocks else None
