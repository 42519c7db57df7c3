"""PIE program pairs as a suite, and the held-out split that keeps evaluation problems out of training.

The split is a file of CodeNet problem ids (``.txt``: one id a line, ``#`` comments; or ``.json``:
``{"problem_ids": [...], "sha256": "..."}``). Its identity is the SHA-256 of the sorted ids joined
by newlines, so the same set gives the same hash in either format; every evaluation output records
it. ``hydra-ray train`` calls :func:`check_disjoint` so no held-out problem is trained on.

The pair format of ``pie_python_pairs*.jsonl`` is a suite as it is: ``slow`` is the original,
``fast`` the reference ("better") program, ``tests`` the stdin/stdout cases.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from hydra_ray.evaluate.tasks import Task, TestCase

DEFAULT_SPLIT = Path(__file__).resolve().parents[3] / "configs" / "evaluate" / "splits" / "pie_heldout.txt"
HOLDOUT_SALT = "hydra-ray-pie-heldout-v1"


class SplitError(ValueError):
    """A split file that cannot be read, or whose recorded hash does not match its ids."""


class SplitOverlapError(ValueError):
    """Training data contains held-out problems; ``shared`` lists them."""

    def __init__(self, shared: list[str], split: "Split"):
        self.shared = shared
        shown = ", ".join(shared[:20]) + (f", … ({len(shared)} in all)" if len(shared) > 20 else "")
        super().__init__(
            f"{len(shared)} training problem id(s) are held out for evaluation by split {split.path} "
            f"(sha256 {split.sha256[:12]}): {shown}. Remove those problems from the training data "
            f"(or evaluate with another split)."
        )


@dataclass(frozen=True)
class Split:
    path: str
    problem_ids: frozenset[str]
    sha256: str

    def __contains__(self, problem_id: object) -> bool:
        return problem_id in self.problem_ids

    def record(self) -> dict:
        """What every evaluation output stores about the split."""
        return {"path": self.path, "sha256": self.sha256, "n_problems": len(self.problem_ids)}


def split_hash(problem_ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(set(problem_ids))).encode()).hexdigest()


def load_split(path: str | Path = DEFAULT_SPLIT) -> Split:
    p = Path(path)
    if not p.is_file():
        raise SplitError(f"split file {p} does not exist; the default is {DEFAULT_SPLIT}")
    text = p.read_text()
    if p.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SplitError(f"split file {p}: not valid JSON ({e})") from e
        ids = data.get("problem_ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise SplitError(f"split file {p}: expected {{\"problem_ids\": [non-empty strings]}}")
    else:
        ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        ids = [i for i in ids if i]
    if not ids:
        raise SplitError(f"split file {p} lists no problem ids")
    digest = split_hash(ids)
    recorded = data.get("sha256") if p.suffix == ".json" else None
    if recorded and recorded != digest:
        raise SplitError(f"split file {p}: recorded sha256 {recorded} does not match its ids ({digest}); "
                         "the file was edited after it was made — regenerate it or fix the hash")
    return Split(str(p), frozenset(ids), digest)


def check_disjoint(train_problem_ids: Iterable[str], split: Split) -> None:
    """Raise :class:`SplitOverlapError` naming every training problem id that the split holds out."""
    shared = sorted({str(i) for i in train_problem_ids} & split.problem_ids)
    if shared:
        raise SplitOverlapError(shared, split)


def hash_holdout(problem_ids: Iterable[str], fraction: float = 0.2, salt: str = HOLDOUT_SALT) -> list[str]:
    """The rule that made the shipped split: a problem is held out when the first 8 bytes of
    sha256(salt:id), read as an integer, fall in the lowest ``fraction`` of the range. Stable across
    machines and independent of which files a problem appears in."""
    cut = int(fraction * 2**64)
    return sorted(i for i in set(problem_ids)
                  if int.from_bytes(hashlib.sha256(f"{salt}:{i}".encode()).digest()[:8], "big") < cut)


def is_pair_record(obj: object) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("slow"), dict) and isinstance(obj.get("fast"), dict)


def task_from_pair(obj: dict, suite: str) -> Task:
    tests = [TestCase(t["input"], t["expected"]) for t in obj.get("tests") or []]
    modes = (obj.get("verification") or {}).get("compare") or []
    return Task(
        id=str(obj["pair_id"]),
        original_code=obj["slow"]["code"],
        better_code=obj["fast"]["code"],
        tests=tests,
        meta={"problem_id": str(obj["problem_id"]), "reported_speedup": obj.get("reported_speedup"),
              "problem_name": obj.get("problem_name")},
        suite=suite,
        compare="float_tol" if "float_tol" in modes else "exact",
    )


def iter_pairs(path: str | Path) -> Iterator[tuple[int, dict]]:
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield lineno, json.loads(line)


def load_pairs(path: str | Path, *, split: Split | None = None, max_pairs_per_problem: int | None = None,
               max_tasks: int | None = None, suite: str = "pie") -> Iterator[Task]:
    """Tasks from a pair file; with ``split`` only pairs of held-out problems, without pairs that have
    no tests (nothing to check a candidate against)."""
    per_problem: dict[str, int] = {}
    yielded = 0
    for lineno, obj in iter_pairs(path):
        if not is_pair_record(obj):
            raise ValueError(f"{path}:{lineno}: not a PIE pair record (needs 'slow' and 'fast' objects)")
        pid = str(obj.get("problem_id"))
        if split is not None and pid not in split:
            continue
        if not obj.get("tests"):
            continue
        if max_pairs_per_problem is not None and per_problem.get(pid, 0) >= max_pairs_per_problem:
            continue
        if max_tasks is not None and yielded >= max_tasks:
            return
        per_problem[pid] = per_problem.get(pid, 0) + 1
        yielded += 1
        yield task_from_pair(obj, suite)
