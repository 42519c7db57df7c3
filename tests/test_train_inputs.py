"""A labelled set that training cannot use is refused by `hydra-ray train` before Ray starts (exit 2), with
the file, what is wrong and how to make it again: not after a Ray start and the workers' set-up, and not
as a bare ``KeyError: 'raw_a'`` (what a labels.parquet from another tool gave after 90 s)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    base = tmp_path_factory.mktemp("train-inputs")
    return build_tiny_model(base / "model"), build_sample_labelled_set(base / "labelled", limit=4)


def _train(cwd: Path, model: Path, labelled: Path) -> subprocess.CompletedProcess:
    # Run as a user would, from a working directory of their own, relative paths where they type them.
    return subprocess.run([sys.executable, "-m", "hydra_ray", "train", "--input", str(labelled), "--output", "out",
                           "--config", str(REPO / "configs/train/tiny-cpu.yaml"), f"model.name_or_path={model}",
                           "dpo.max_steps=2"],
                          cwd=cwd, capture_output=True, text=True, timeout=120, env={**__import__("os").environ,
                                                                                  "PYTHONPATH": str(REPO)})


def _copy(labelled: Path, to: Path) -> Path:
    shutil.copytree(labelled, to)
    return to


def _spoil_version(d: Path) -> None:
    record = json.loads((d / "labeler.json").read_text())
    record["version"] = 99
    (d / "labeler.json").write_text(json.dumps(record))


def _spoil_columns(d: Path) -> None:
    import pyarrow.parquet as pq

    # A plain TRL preference set: what another tool (or an older label) writes.
    table = pq.read_table(d / "labels.parquet").select(["prompt", "chosen", "rejected"])
    pq.write_table(table, d / "labels.parquet")


CASES = {
    "labeler_other_version": (_spoil_version, "labeler.json cannot be read", "version 99"),
    "labeler_not_json": (lambda d: (d / "labeler.json").write_text("{bad"), "labeler.json cannot be read",
                         "cannot read labeller file"),
    "labels_not_parquet": (lambda d: (d / "labels.parquet").write_text("garbage"), "labels.parquet cannot be read",
                           "ArrowInvalid"),
    "labels_other_columns": (_spoil_columns, "labels.parquet lacks column(s) example_id", "raw_a"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_unusable_labelled_set_is_refused_before_ray_starts(inputs, tmp_path, case):
    model, labelled = inputs
    spoil, says, detail = CASES[case]
    bad = _copy(labelled, tmp_path / "labelled")
    spoil(bad)
    r = _train(tmp_path, model, bad)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "before Ray starts" in r.stderr and says in r.stderr and detail in r.stderr, r.stderr
    assert f"hydra-ray label --input ENRICHED_DIR --output {bad}" in r.stderr
    assert "embedded Ray" not in r.stdout + r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out" / "ray").exists()


def test_an_enrich_output_given_as_input_says_to_label_it_first(inputs, tmp_path):
    model, _ = inputs
    enriched = tmp_path / "enriched"
    (enriched / "data").mkdir(parents=True)
    (enriched / "summary.json").write_text("{}")
    r = _train(tmp_path, model, enriched)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"this is `hydra-ray enrich`'s output" in r.stderr
    assert f"hydra-ray label --input {enriched} --output LABELLED_DIR" in r.stderr


def test_a_missing_input_directory_is_named_as_missing(inputs, tmp_path):
    model, _ = inputs
    r = _train(tmp_path, model, tmp_path / "nope")
    assert r.returncode == 2
    assert f"--input {tmp_path / 'nope'}: no such directory" in r.stderr, r.stderr


def test_a_hub_id_missing_from_the_cache_says_training_runs_offline(inputs, tmp_path):
    _, labelled = inputs
    r = _train(tmp_path, "hydra-ray-tests/no-such-model", labelled)   # no network here: must not try one
    assert r.returncode == 2, r.stdout + r.stderr
    assert "nor a model in the local Hugging Face cache; training never downloads" in r.stderr, r.stderr
    assert "`hf download hydra-ray-tests/no-such-model`" in r.stderr
    assert "make-tiny-model" not in r.stderr   # a hub id is not a folder to build the tiny model into
    assert "Traceback" not in r.stderr and "embedded Ray" not in r.stdout + r.stderr


def test_output_into_the_labelled_set_itself_is_refused(inputs, tmp_path):
    model, labelled = inputs
    mine = _copy(labelled, tmp_path / "labelled")
    before = sorted(p.name for p in mine.rglob("*"))
    r = subprocess.run([sys.executable, "-m", "hydra_ray", "train", "--input", "labelled", "--output", "labelled/",
                        "--config", str(REPO / "configs/train/tiny-cpu.yaml"), f"model.name_or_path={model}"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"--output {mine} is the labelled set itself (--input)" in r.stderr, r.stderr
    assert sorted(p.name for p in mine.rglob("*")) == before and "embedded Ray" not in r.stdout
