"""The `hydra` optimiser in process: the trained adapter loaded here, the same prompts as training."""
from pathlib import Path

import yaml

from hydra_ray.config import from_dict
from hydra_ray.evaluate.config import EvaluateConfig
from hydra_ray.evaluate.harness import evaluate
from hydra_ray.evaluate.optimizers import build_optimizer
from hydra_ray.evaluate.suites.patterns import load_pattern

REPO = Path(__file__).resolve().parents[1]


def _training_output(root: Path) -> Path:
    import peft
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hydra_ray.train.tiny_model import build_tiny_model

    base = build_tiny_model(root / "tiny-model")
    torch.manual_seed(0)
    model = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                                peft.LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    out = root / "train-out"
    model.save_pretrained(out / "adapter")
    AutoTokenizer.from_pretrained(base).save_pretrained(out / "adapter")
    (out / "config.yaml").write_text(yaml.safe_dump({"model": {"name_or_path": str(base)}}))
    return out


def test_hydra_in_process_generates_per_weight_vector_and_never_counts_junk(tmp_path):
    out = _training_output(tmp_path)
    cfg = from_dict(EvaluateConfig, {
        "optimizer": "hydra", "weights": [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]],
        "hydra_in_process": str(REPO / "configs/serve/tiny-cpu.yaml"),
        "hydra_overrides": [f"model.training_output={out}"],
        "openai": {"max_tokens": 32}, "measure": {"repeats": 4}})
    opt = build_optimizer(cfg)
    task = load_pattern("triangular_sum", sizes=["small"])
    proposals = opt.propose([task])[task.id]
    assert len(proposals) == 2 and {c.weights for c in proposals} == {(1.0, 0, 0, 0, 0), (0, 1.0, 0, 0, 0)}
    assert all(c.raw for c in proposals)  # the model really answered
    rows = evaluate([task], opt, cfg)
    # A random tiny model writes no runnable program: such a candidate is never counted as correct.
    for r in rows:
        assert r["correct"] == (r["verdict"] == "passed")
        if r["code"] is None:
            assert r["verdict"] == "no_code"
