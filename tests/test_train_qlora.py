"""The QLoRA code path (4-bit NF4 base, double quantization, LoRA, TRL DPO with per-example losses)
on bitsandbytes' CPU backend: the same calls the 7B preset makes on a GPU, on the tiny model.

What this does not show: CUDA kernels, bf16 autocast on a GPU, or the 7B memory and speed figures
(shared/notes/gpu-measured.md has those from an H200). `hydra-ray train` itself still refuses
model.quantization=nf4 on a node without CUDA (tests/test_train_config.py): 4-bit on CPU is slower
than float32 and only useful for testing.
"""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("bitsandbytes", reason="bitsandbytes is in the dev extras (scripts/setup.sh installs it)")

from hydra_ray.config import load_config  # noqa: E402
from hydra_ray.train.builder import build_trainer, load_model  # noqa: E402
from hydra_ray.train.config import TrainConfig  # noqa: E402
from hydra_ray.train.sample_data import build_sample_labelled_set  # noqa: E402
from hydra_ray.train.tiny_model import build_tiny_model  # noqa: E402
from tests.test_train_config import REPO  # noqa: E402

QLORA = REPO / "configs" / "train" / "qwen2.5-coder-7b-qlora.yaml"


@pytest.fixture(scope="module")
def qlora(tmp_path_factory):
    torch.set_num_threads(1)
    model = build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    labelled = build_sample_labelled_set(tmp_path_factory.mktemp("labelled"), samples_per_pair=1, limit=8)
    cfg = load_config(TrainConfig, QLORA, [f"model.name_or_path={model}", "lora.r=4", "lora.alpha=8",
                                           "dpo.max_steps=2", "dpo.per_device_batch_size=2",
                                           # No warm-up: its first step has learning rate 0.
                                           "dpo.learning_rate=0.01", "dpo.warmup_steps=0",
                                           "dpo.lr_scheduler_type=constant"])
    return cfg, labelled


def _linear4bit(model):
    import bitsandbytes as bnb

    return {n: m for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}


def test_preset_loads_the_base_in_nf4_with_double_quantization(qlora):
    cfg, _ = qlora
    model = load_model(cfg)
    layers = _linear4bit(model)
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    # Every projection of the 2 decoder layers (7 each); lm_head stays dense (tied to the embedding).
    assert len(layers) == 14 and set(linear) - set(layers) == {"lm_head"}
    for m in layers.values():
        qs = m.weight.quant_state
        assert (qs.quant_type, bool(qs.nested), m.weight.dtype) == ("nf4", True, torch.uint8)
        assert m.compute_dtype == torch.bfloat16
    # prepare_model_for_kbit_training froze the base and upcast the norms for stable training.
    assert not any(p.requires_grad for p in model.parameters())


def test_dpo_steps_train_only_the_adapter_and_it_reloads_on_a_quantized_base(qlora, tmp_path):
    from peft import PeftModel

    cfg, labelled = qlora
    losses = []
    trainer = build_trainer(cfg, labelled, tmp_path / "hf", use_cpu=True, concentration=lambda: [1.0] * 5,
                            loss_sink=lambda b: losses.append(b.per_example.tolist()))
    base_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.dtype == torch.uint8}
    lora_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert len(_linear4bit(trainer.model)) == 14 and base_before and lora_before
    # An eval forward first: on CPUs with AVX512-BF16, bitsandbytes repacks the weights for inference
    # and a later training forward used to fail (load_model turns that repacking off on CPU).
    ids = torch.tensor([[1, 5, 9, 17, 33, 65, 129]])
    trainer.model.eval()
    with torch.no_grad():
        trainer.model(input_ids=ids)
    trainer.model.train()
    trainer.train()
    assert trainer.state.global_step == 2
    # Per-example losses were captured (and checked against TRL's loss) for both batches of 2.
    assert [len(b) for b in losses] == [2, 2] and all(0 < x < 5 for b in losses for x in b)
    after = dict(trainer.model.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in base_before.items()), "4-bit base weights changed"
    changed = sum(not torch.equal(after[n], v) for n, v in lora_before.items())
    assert changed == len(lora_before), f"only {changed}/{len(lora_before)} LoRA tensors trained"

    trainer.model.save_pretrained(str(tmp_path / "adapter"))
    trainer.model.eval()
    with torch.no_grad():
        want = trainer.model(input_ids=ids).logits.float()
        reloaded = PeftModel.from_pretrained(load_model(cfg), str(tmp_path / "adapter")).eval()
        got = reloaded(input_ids=ids).logits.float()
    assert len(_linear4bit(reloaded)) == 14
    assert torch.allclose(got, want, atol=2e-2), (got - want).abs().max()
