'''The chat template, in one place: the prompt states the objective weights and holds the original program.

Two prompt conditionings (``prompt_conditioning``; label, train, serve and evaluate must agree on it:
``hydra-ray label`` records it in ``labeler.json``, training copies it to ``adapter/hydra_prompt.json``,
serve and evaluate read it from there and refuse a different setting):

* ``weights`` (default, **our extension**): the weights are written into every prompt, so one model can be
  steered at inference time;
* ``none`` (**the paper's, as we read it**): no weights in the prompt. The paper's DPO loss conditions on
  a prompt x (Sec. IV-D) but never says what x holds nor prints a prompt; it lists putting the
  preference into the prompt as future work (Sec. IX: "future work could investigate explicit
  preference conditioning during inference. For example, learned preference embeddings or control
  tokens could be introduced into the prompt"), so we take its prompts to carry no weights. The
  weights then only decide which side is chosen. The wording of both templates is ours.

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


CONDITIONINGS = ("weights", "none")

UNCONDITIONED_TEMPLATE = ("Optimise the following Python program so that it runs more efficiently.\n"
                          "Keep its behaviour identical: same output for every input on standard input.\n"
                          "Reply with the complete program in one ```python code block.\n\n"
                          "{program}")


PROMPT_RECORD = "hydra_prompt.json"     # in a trained adapter directory: {"prompt_conditioning": ...}


def read_prompt_record(adapter_dir: str | None) -> str | None:
    """The conditioning an adapter was trained with, or None (no record: trained before it was kept)."""
    import json
    from pathlib import Path

    if not adapter_dir:
        return None
    f = Path(adapter_dir) / PROMPT_RECORD
    return json.loads(f.read_text()).get("prompt_conditioning") if f.is_file() else None


def resolve_conditioning(asked: str | None, recorded: str | None, where: str) -> str:
    """The conditioning to use: what the model was trained with; asking for another one is refused."""
    if asked is not None:
        check_conditioning(asked)
    if asked is not None and recorded is not None and asked != recorded:
        raise ValueError(f"prompt_conditioning: asked for {asked!r} but {where} was trained with {recorded!r} "
                         f"({PROMPT_RECORD}); prompts must match training: drop the setting or set it to {recorded!r}")
    return recorded or asked or "weights"


def check_conditioning(value: str, field: str = "prompt_conditioning") -> str:
    if value not in CONDITIONINGS:
        raise ValueError(f"{field}: expected one of {list(CONDITIONINGS)} (weights: weights in the prompt, ours; "
                         f"none: the paper's unconditioned prompt), got {value!r}")
    return value


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


def render_messages(original_code: str, weights: Sequence[float] | None,
                    conditioning: str = "weights") -> list[dict[str, str]]:
    """System + user messages: the weights stated explicitly (``conditioning="weights"``) or not at all
    (``"none"``, the paper's), the original program fenced."""
    if check_conditioning(conditioning) == "none":
        user = UNCONDITIONED_TEMPLATE.format(program=fence(original_code))
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
    if weights is None:
        raise ValueError("render_messages: prompt conditioning 'weights' needs a weight vector")
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
