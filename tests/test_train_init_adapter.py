"""model.init_adapter: DPO starts from an earlier adapter (the paper's warm start), on the tiny model."""
from __future__ import annotations

import json

import pytest
import torch

from hydra_ray.config import from_dict
from hydra_ray.train.builder import build_trainer
from hydra_ray.train.config import TrainConfig, check_node
from hydra_ray.train.sample_data import build_sample_labelled_set
from hydra_ray.train.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    torch.set_num_threads(1)
    model = build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    labelled = build_sample_labelled_set(tmp_path_factory.mktemp("labelled"), samples_per_pair=1, limit=8)
    return model, labelled


def _cfg(model_dir, **model):
    return from_dict(TrainConfig, {"model": {"name_or_path": str(model_dir), **model},
                                   "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
                                   "dpo": {"beta": 0.5, "max_steps": 2, "per_device_batch_size": 4,
                                           "learning_rate": 1e-2}})


def _lora(model, adapter="default"):
    return {n.replace(f".{adapter}", ""): p.detach().clone() for n, p in model.named_parameters()
            if "lora_" in n and f".{adapter}." in n}


def test_training_continues_from_the_init_adapter(dirs, tmp_path):
    """A first trainer with random LoRA B (so the adapter is not the zero init) saves its adapter. A second
    trainer with model.init_adapter starts from exactly those weights (not from a fresh zero-B LoRA), they
    are trainable, and two DPO steps move them. TRL keeps a frozen copy of the start adapter ("ref") as the
    DPO reference, which does not move."""
    model_dir, labelled = dirs
    torch.manual_seed(0)
    first = build_trainer(_cfg(model_dir), labelled, tmp_path / "a", use_cpu=True,
                          concentration=lambda: [1.0] * 5, init_lora_weights=False)
    first.model.save_pretrained(str(tmp_path / "warm"))
    saved = _lora(first.model)
    assert any(v.abs().max() > 0 for k, v in saved.items() if "lora_B" in k)

    cfg = _cfg(model_dir, init_adapter=str(tmp_path / "warm"))
    assert not [p for p in check_node(cfg) if "init_adapter" in p or p.startswith("lora.")]
    second = build_trainer(cfg, labelled, tmp_path / "b", use_cpu=True, concentration=lambda: [1.0] * 5)
    start = _lora(second.model)
    assert start.keys() == saved.keys()
    assert all(torch.equal(start[k], saved[k]) for k in saved)
    assert all(p.requires_grad for n, p in second.model.named_parameters() if "lora_" in n and ".default." in n)
    ref = _lora(second.model, "ref")
    assert ref.keys() == saved.keys() and all(torch.equal(ref[k], saved[k]) for k in saved)
    assert not any(p.requires_grad for n, p in second.model.named_parameters() if ".ref." in n)
    second.train()
    after = _lora(second.model)
    assert any(not torch.equal(after[k], start[k]) for k in start)
    assert all(torch.equal(_lora(second.model, "ref")[k], saved[k]) for k in saved)


def test_init_adapter_checked_before_training(dirs, tmp_path):
    model_dir, _ = dirs
    missing = check_node(_cfg(model_dir, init_adapter=str(tmp_path / "nothing")))
    assert any("model.init_adapter" in p and "adapter_config.json" in p for p in missing)
    (tmp_path / "r8").mkdir()
    (tmp_path / "r8" / "adapter_config.json").write_text(json.dumps({"r": 8, "lora_alpha": 8}))
    shape = check_node(_cfg(model_dir, init_adapter=str(tmp_path / "r8")))
    assert any(p.startswith("lora.r:") and "lora.r=8" in p for p in shape)
