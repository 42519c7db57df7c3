"""Fig. 5, 6 and 8 (training dynamics) from a tiny training run here, or from a ``metrics.jsonl`` the user
passes (e.g. from a GPU run of ``configs/train/qwen2.5-coder-7b-qlora.yaml``).

The tiny run: the 2-layer random-weight fixture model (``hydra-ray make-tiny-model``), the labelled
sample of 48 real PIE pairs (``hydra_ray.train.sample_data``: metrics from the judge's and PIE authors'
reports, not from our sandbox), DPO + LoRA under Ray Train with the adaptive α actor
(``configs/train/tiny-cpu.yaml``). It shows the figures and the machinery, not the paper's run: a 7B
model, 35,752 pairs and up to 72,000 steps on an A100 are not reproducible on 2 CPU cores.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.dirichlet import REGIONS

PRESET = Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny-cpu.yaml"


def tiny_training(out: Path, steps: int, workers: int, pairs: int | None, emit: Callable[[str], None] = print) -> Path:
    """Train the tiny model for ``steps`` DPO steps; returns the metrics.jsonl path."""
    from hydra_ray.config import load_config
    from hydra_ray.train.config import TrainConfig
    from hydra_ray.train.driver import run_training
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    model_dir = out / "tiny-model"
    if not (model_dir / "config.json").exists():
        build_tiny_model(model_dir)
    labelled = build_sample_labelled_set(out / "labelled", samples_per_pair=2, limit=pairs)
    log_every = max(1, steps // 10)
    overrides = [f"model.name_or_path={model_dir}", f"dpo.max_steps={steps}", f"dpo.save_steps={steps}",
                 f"dpo.logging_steps={log_every}", f"scaling.num_workers={workers}", "num_cpus=2"]
    preset = PRESET if PRESET.is_file() else None
    cfg = load_config(TrainConfig, preset, overrides)
    if preset is None:   # an installed package without the repository's configs/: the preset's own values
        cfg = cfg.replace(dpo=cfg.dpo.replace(learning_rate=5e-4, beta=0.1),
                          alpha=cfg.alpha.replace(lr=0.5), lora=cfg.lora.replace(r=8, alpha=16, dropout=0.0))
    # Our own scratch run: a rerun with other steps or pairs replaces it; the same plan finds it finished.
    # Its adapter only draws Fig. 5/6/8 and is never evaluated (Table II/III use the reference optimiser and
    # recorded completions), so train's note that the bundled sample shares problems with pie_heldout
    # ("an evaluation of this adapter on pie_heldout would test on problems it was trained on") is moot.
    run_training(cfg, labelled, out / "train", emit=emit, overwrite=True, heldout_note=False)
    return out / "train" / "metrics.jsonl"


def training_findings(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the figures show, for the report: final α, final preference rates and advantages, and whether
    the paper's qualitative statements hold on these rows (memory gets the least α / preference / advantage)."""
    from hydra_ray.train.plots import final_preference

    last = rows[-1] if rows else {}
    alpha = {r: last.get(f"alpha/{r}") for r in REGIONS}
    final = final_preference(rows)
    checks = []

    def lowest(values: dict[str, float | None]) -> str | None:
        known = {k: v for k, v in values.items() if v is not None}
        return min(known, key=known.get) if known else None

    metric_alpha = {m: alpha.get(m) for m in METRIC_NAMES}
    if any(v is not None for v in metric_alpha.values()):
        lo = lowest(metric_alpha)
        checks.append(("Fig. 5: memory receives lower relative emphasis (lowest metric α at the end)",
                       lo == "memory", f"lowest α: {lo}"))
    rates = {m: final[m]["pref_rate"] for m in METRIC_NAMES}
    if any(v is not None for v in rates.values()):
        lo = lowest(rates)
        checks.append(("Fig. 6: memory contributes less strongly (lowest preference rate)", lo == "memory",
                       f"lowest preference rate: {lo}"))
    adv = {m: final[m]["advantage"] for m in METRIC_NAMES}
    if any(v is not None for v in adv.values()):
        lo = lowest(adv)
        checks.append(("Fig. 8: memory provides a weaker signal (lowest mean advantage)", lo == "memory",
                       f"lowest mean advantage: {lo}"))
    return {"steps": last.get("step"), "rows": len(rows), "alpha": alpha, "final": final, "checks": checks}
