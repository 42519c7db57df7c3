'''Recorded completions: the second generation backend, for tests and offline demos (pure).

The default backend runs the model. This one answers from a JSONL file instead, so the whole service
(verification, measurement, ranking, HTTP) can be exercised with known candidates — the tiny random
test model only produces junk. Each line is one object::

    {"prompt_sha256": "<hex>", "completions": ["```python\\n...\\n```", ...]}   # this exact prompt
    {"code_sha256": "<hex>",   "completions": [...]}                         # this original program, any weights
    {"completions": [...]}                                                    # no key: round-robin pool

``prompt_sha256`` is :func:`prompt_key` of the chat messages (role and content of each, in order);
``code_sha256`` is :func:`code_key` of the original program, read from the last user message with
``prefs.prompt.extract_code`` — so one line serves a program under every weight vector.

Lookup (``mode: prompt_hash``): the prompt's key, then its program's key, then the round-robin pool;
nothing found is an error naming both keys. ``mode: round_robin`` ignores keys: request k gets line
k mod N (per replica: each replica keeps its own counter). A request for n completions gets the
line's first n, cycling through them when the line has fewer.

``write_patterns_demo`` writes the shipped ``demo_completions.jsonl``: for each program of the
``patterns`` evaluation suite, its known better version, a wrong one and the original unchanged.
'''
from __future__ import annotations

import hashlib
import itertools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from hydra_ray.prefs.prompt import extract_code, fence

DEMO_FILE = Path(__file__).with_name("demo_completions.jsonl")


def prompt_key(messages: Sequence[dict]) -> str:
    canon = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
    return hashlib.sha256(json.dumps(canon, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def code_key(code: str) -> str:
    # Trailing whitespace differences (a file's final newline) do not make a different program.
    return hashlib.sha256(code.strip().encode()).hexdigest()


def original_code_of(messages: Sequence[dict]) -> str | None:
    users = [m for m in messages if m.get("role") == "user"]
    return extract_code(str(users[-1]["content"])) if users else None


class RecordedError(LookupError):
    pass


@dataclass(frozen=True)
class RecordedLine:
    completions: tuple[str, ...]
    prompt_sha256: str | None = None
    code_sha256: str | None = None


def load_recorded(path: str | Path) -> list[RecordedLine]:
    lines: list[RecordedLine] = []
    for i, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{i}: not JSON: {e}") from e
        comps = obj.get("completions") if isinstance(obj, dict) else None
        if not isinstance(comps, list) or not comps or not all(isinstance(c, str) for c in comps):
            raise ValueError(f"{path}:{i}: expected \"completions\": a non-empty list of strings")
        lines.append(RecordedLine(tuple(comps), obj.get("prompt_sha256"), obj.get("code_sha256")))
    if not lines:
        raise ValueError(f"{path}: no recorded completions in the file")
    return lines


class RecordedCompletions:
    """Thread-safe lookup over a loaded file (see the module docstring for the rules)."""

    def __init__(self, lines: Sequence[RecordedLine], mode: str = "prompt_hash"):
        self.lines = list(lines)
        self.mode = mode
        self.by_prompt = {ln.prompt_sha256: ln for ln in self.lines if ln.prompt_sha256}
        self.by_code = {ln.code_sha256: ln for ln in self.lines if ln.code_sha256}
        self.pool = [ln for ln in self.lines if not (ln.prompt_sha256 or ln.code_sha256)]
        self._counter = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path, mode: str = "prompt_hash") -> "RecordedCompletions":
        return cls(load_recorded(path), mode)

    def _next(self, lines: Sequence[RecordedLine]) -> RecordedLine:
        with self._lock:
            k = next(self._counter)
        return lines[k % len(lines)]

    def lookup(self, messages: Sequence[dict]) -> RecordedLine:
        if self.mode == "round_robin":
            return self._next(self.lines)
        pk = prompt_key(messages)
        if pk in self.by_prompt:
            return self.by_prompt[pk]
        code = original_code_of(messages)
        ck = code_key(code) if code is not None else None
        if ck in self.by_code:
            return self.by_code[ck]
        if self.pool:
            return self._next(self.pool)
        raise RecordedError(f"no recorded completion for this prompt (prompt_sha256 {pk}, code_sha256 "
                            f"{ck or 'n/a: no program in the last user message'}) and no unkeyed lines to "
                            "fall back on")

    def complete(self, messages: Sequence[dict], n: int) -> list[str]:
        line = self.lookup(messages)
        return [line.completions[i % len(line.completions)] for i in range(n)]


# ---- the shipped demo file -----------------------------------------------------------------------

def _wrong_version(original: str) -> str:
    # Behaves differently on every input: prints one extra line first.
    return 'print("optimised!")\n' + original


def demo_lines() -> Iterable[dict]:
    from hydra_ray.evaluate.suites.patterns import ROOT, pattern_names

    for name in pattern_names():
        original = (ROOT / name / "original.py").read_text()
        better = (ROOT / name / "better.py").read_text()
        yield {"pattern": name, "code_sha256": code_key(original),
               "completions": [fence(better), fence(_wrong_version(original)), fence(original)]}


def write_patterns_demo(path: str | Path = DEMO_FILE) -> Path:
    p = Path(path)
    p.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in demo_lines()), encoding="utf-8")
    return p


if __name__ == "__main__":  # python -m hydra_ray.serve.recorded  (re)writes the demo file
    print(write_patterns_demo())
