"""What defines a training run: recorded in ``OUTPUT/run.json`` before Ray starts, compared on a rerun.

A rerun into an output that holds checkpoints or a finished run continues it (or reports it finished)
only when it asks for the same run: the same labelled data (a digest of ``labels.parquet`` and
``labeler.json``) and the same value of every config field that changes what is trained. Anything else
is refused before Ray starts, naming what changed, so that ``config.yaml``, ``metrics.jsonl`` and the
adapter never describe a run other than the one trained; ``--overwrite`` deletes the old run first.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hydra_ray.run_identity import changed_fields, files_digest, flatten, refusal

RECORD = "run.json"
INPUT_FILES = ("labels.parquet", "labeler.json")
# How or where a run goes, not what it trains: these may change between a run and its resume
# (a dotted name covers the fields under it).
OPERATIONAL = ("dpo.logging_steps", "dpo.save_steps", "dpo.keep_checkpoints", "max_failures", "ray_address",
               "num_cpus", "storage_path", "heldout_split", "scaling.cpus_per_worker",
               "scaling.resources_per_worker", "scaling.accelerator_type", "model.gradient_checkpointing")


def _operational(key: str) -> bool:
    return any(key == o or key.startswith(o + ".") for o in OPERATIONAL)


def training_fields(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """The config fields that change the result, dotted (``dpo.learning_rate``), as JSON keeps them."""
    return json.loads(json.dumps({k: v for k, v in flatten(cfg_dict).items() if not _operational(k)}))


def run_identity(cfg_dict: dict[str, Any], input_dir: Path) -> dict[str, Any]:
    return {"input": str(input_dir),
            "input_fingerprint": files_digest([input_dir / n for n in INPUT_FILES], input_dir),
            "config": training_fields(cfg_dict)}


def recorded_identity(out: Path) -> dict[str, Any] | None:
    """``run.json``; for an output written before it existed, the training fields of its ``config.yaml``
    (its input cannot be compared then); None when there is neither."""
    try:
        return json.loads((out / RECORD).read_text())
    except (OSError, json.JSONDecodeError):
        pass
    try:
        return {"config": training_fields(yaml.safe_load((out / "config.yaml").read_text()) or {})}
    except (OSError, yaml.YAMLError, AttributeError):
        return None


def differences(prev: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What ``now`` asks for that the recorded run was not made from: input data, config fields."""
    what = []
    if "input_fingerprint" in prev and prev["input_fingerprint"] != now["input_fingerprint"]:
        what.append(f"input ({prev.get('input')} → {now['input']})" if prev.get("input") != now["input"]
                    else f"input data ({now['input']} has changed since)")
    changed = changed_fields(prev.get("config") or {}, now["config"])
    if changed:
        what.append(f"config ({', '.join(changed)})")
    return what


def check_rerun(out: Path, now: dict[str, Any], holds: str, overwrite: bool) -> list[str]:
    """The differences between the run ``out`` holds (described by ``holds``) and ``now``: refused
    with OutputExistsError unless ``overwrite``; [] when it is the same run (or nothing says otherwise)."""
    prev = recorded_identity(out)
    what = differences(prev, now) if prev is not None else []
    if what and not overwrite:
        raise refusal(out, holds, what, "pass --overwrite to start over (its checkpoints and outputs are deleted)")
    return what


def write_identity(out: Path, now: dict[str, Any]) -> None:
    (out / RECORD).write_text(json.dumps(now, indent=2) + "\n")
