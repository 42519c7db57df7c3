"""What an output was made from, so that a rerun into it can tell whether it asks for the same thing.

``label`` and ``train`` record a fingerprint of their input files and of the config fields that change
their result; a rerun asking for something else is refused, naming what changed (``seed: 0 → 1``),
unless ``--overwrite`` is given (:class:`hydra_ray.paths.OutputExistsError`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Mapping

from hydra_ray.paths import OutputExistsError

_UNSET = "(unset)"


def files_digest(files: Iterable[Path], base: Path) -> str:
    """sha256 over each file's path relative to ``base`` and its bytes: what the files hold, not when
    they were written (a relabelling that gives the same dataset keeps the same digest)."""
    h = hashlib.sha256()
    for f in files:
        h.update(str(Path(f).relative_to(base)).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"dpo": {"beta": 0.1}}`` → ``{"dpo.beta": 0.1}``, so that a change names its field, not a section."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``field: old → new`` for every field (dotted, nested sections flattened) whose value differs."""
    old, new = flatten(old), flatten(new)
    keys = [*new, *(k for k in old if k not in new)]
    return [f"{k}: {old.get(k, _UNSET)!r} → {new.get(k, _UNSET)!r}" for k in keys
            if old.get(k, _UNSET) != new.get(k, _UNSET)]


def refusal(out: Path, holds: str, differences: list[str], remedy: str) -> OutputExistsError:
    """The error for an output that holds ``holds`` made from something else than what is asked."""
    return OutputExistsError(f"{out} already holds {holds} made from different "
                             f"{' and '.join(differences) or 'settings'}; {remedy}, or choose another --output")
