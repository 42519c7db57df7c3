"""Every YAML preset in configs/ loads into its typed config and starts with the command that runs it."""
import importlib
from pathlib import Path

import pytest

from hydra_ray.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# configs/<dir>/ -> the dataclass its presets fill
CLASSES = {
    "enrich": "hydra_ray.enrich.config:EnrichConfig",
    "label": "hydra_ray.prefs.config:LabelConfig",
    "train": "hydra_ray.train.config:TrainConfig",
    "evaluate": "hydra_ray.evaluate.config:EvaluateConfig",
    "serve": "hydra_ray.serve.config:ServePreset",
}
PRESETS = sorted(p for p in CONFIGS.glob("*/*.yaml"))


def _cls(kind: str):
    module, name = CLASSES[kind].split(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_preset_loads_and_validates(preset):
    kind = preset.parent.name
    assert kind in CLASSES, f"configs/{kind}/ has no config class registered in this test"
    load_config(_cls(kind), preset)
    first = preset.read_text().splitlines()[0]
    assert first.startswith("# hydra-ray ") or first.startswith("# ray job submit"), \
        f"{preset.name}: first line should be the command that runs it, got {first!r}"


def test_overrides_and_all_errors_at_once():
    from hydra_ray.enrich.config import EnrichConfig

    cfg = load_config(EnrichConfig, CONFIGS / "enrich" / "local.yaml", ["profile.repeats=7", "profile.sandbox.memory_mb=512"])
    assert cfg.profile.repeats == 7 and cfg.profile.sandbox.memory_mb == 512
    with pytest.raises(ConfigError) as e:
        load_config(EnrichConfig, None, ["profile.repeats=1", "profile.cycles_backend=magic", "profile.sandbx.x=1"])
    msg = str(e.value)
    assert "repeats" in msg and "cycles_backend" in msg
    with pytest.raises(ConfigError, match="did you mean 'sandbox'"):
        load_config(EnrichConfig, None, ["profile.sandbx.x=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(EnrichConfig, None, ["profile.repeats"])


def test_a_number_yaml_reads_as_text_is_explained_and_a_stray_argument_is_named():
    from hydra_ray.config import ConfigError, load_config
    from hydra_ray.enrich.config import EnrichConfig

    with pytest.raises(ConfigError, match=r"memory_mb: expected a number, got '1e9' \(YAML read it as text"):
        load_config(EnrichConfig, None, ["profile.sandbox.memory_mb=1e9"])
    with pytest.raises(ConfigError, match=r"override 'wrong.py': expected key=value.*a stray argument\?"):
        load_config(EnrichConfig, None, ["wrong.py"])
