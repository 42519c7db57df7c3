"""A ``key=value`` override of the wrong type is refused naming the field, the value given and what was
expected; a true/false field took any text as true before (``dpo.bf16=maybe``, ``identity_baseline=flase``)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_ray.config import ConfigError, load_config
from hydra_ray.enrich.config import EnrichConfig
from hydra_ray.evaluate.config import EvaluateConfig
from hydra_ray.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs/train/tiny-cpu.yaml"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hydra_ray", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize("text, value", [("true", True), ("false", False), ("yes", True), ("no", False)])
def test_yaml_booleans_are_taken(text, value):
    assert load_config(TrainConfig, TINY, [f"dpo.bf16={text}"]).dpo.bf16 is value


@pytest.mark.parametrize("override", ["dpo.bf16=maybe", "dpo.bf16=1", "model.gradient_checkpointing=off-ish"])
def test_a_boolean_field_refuses_other_values(override):
    key, value = override.split("=")
    with pytest.raises(ConfigError) as e:
        load_config(TrainConfig, TINY, [override])
    problem, = e.value.problems
    assert problem.startswith(f"{key}: expected true or false, got ") and f"override {override}" in problem


def test_train_cli_names_the_field_value_and_expectation(tmp_path):
    r = _cli("train", "--input", "labelled", "--output", "out", "--config", str(TINY),
             "model.name_or_path=tiny", "dpo.bf16=maybe", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "dpo.bf16: expected true or false, got 'maybe'" in r.stderr, r.stderr
    r = _cli("train", "--input", "labelled", "--output", "out", "--config", str(TINY), "model.name_or_path=5",
             cwd=tmp_path)
    assert r.returncode == 2 and "name_or_path: expected a Hugging Face model id or a local directory, got 5" \
        in r.stderr, r.stderr


def test_evaluate_cli_refuses_a_misspelt_boolean_before_measuring(tmp_path):
    r = _cli("evaluate", "--output", "out", "identity_baseline=flase", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "identity_baseline: expected true or false, got 'flase'" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
    assert load_config(EvaluateConfig, None, ["identity_baseline=false"]).identity_baseline is False



@pytest.mark.parametrize("cls, config, override, expected", [
    (TrainConfig, TINY, "dpo.max_steps=5.5", "dpo: DPOSettings.max_steps: expected an integer >= 1, got 5.5"),
    (TrainConfig, TINY, "lora.r=2.5", "lora: LoraSettings.r: expected an integer >= 1, got 2.5"),
    (TrainConfig, TINY, "max_failures=1.5", "TrainConfig.max_failures: expected an integer >= 0 (worker-group "
                                            "restarts per run) or -1 (no limit), got 1.5"),
    (EnrichConfig, None, "placement.num_actors=1.5",
     "placement: ProfilerPlacement.num_actors: expected an integer >= 0 (0 = one per core), got 1.5"),
    # a count without a check of its own keeps the type error
    (EnrichConfig, None, "profile.repeats=2.5", "profile.repeats: expected a whole number, got 2.5")])
def test_a_fraction_for_a_count_is_one_error_for_that_field(cls, config, override, expected):
    """The type error ("expected a whole number") and the class's check ("expected an integer >= 1")
    were two errors for one value: the check's, which also says the range, is the one kept."""
    with pytest.raises(ConfigError) as e:
        load_config(cls, config, [override])
    problem, = e.value.problems
    assert problem == f"{expected} (command-line override {override})", problem


def test_the_cli_prints_one_error_for_a_fraction_of_a_step(tmp_path):
    r = _cli("train", "--input", "labelled", "--output", "out", "--config", str(TINY), "dpo.max_steps=5.5",
             cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    about = [ln for ln in r.stderr.splitlines() if "max_steps" in ln]
    assert len(about) == 1 and "max_steps: expected an integer >= 1, got 5.5" in about[0], r.stderr
