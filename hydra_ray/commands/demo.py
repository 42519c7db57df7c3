"""`hydra-ray demo`: the whole pipeline on one machine, on an embedded local Ray."""
from __future__ import annotations

HELP = "run enrich → label → train → serve → one optimize request on bundled real data"
DESCRIPTION = """The one-command pipeline, on an embedded local Ray with the bundled sample of real
PIE pairs and the tiny fixture model (built offline): enrich → label → train (a few steps) → serve →
one optimize request. Prints each stage's summary and where its outputs and plots are, then stops
the service. Takes a few minutes on 2 cores. The tiny model has random weights, so its candidates
are junk: the demo shows the machinery (every junk candidate is rejected by verification, and the
answer says the original stands), not a trained optimizer.

example:
  hydra-ray demo --output runs/demo
"""

SAMPLE = "sample_data/pie_sample.jsonl"


def add_arguments(p) -> None:
    p.add_argument("--output", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--pairs", type=int, default=10, help="sample pairs to enrich (default 10)")
    p.add_argument("--steps", type=int, default=20, help="DPO steps (default 20)")
    p.add_argument("--port", type=int, default=0, help="HTTP port for the service (default: a free one)")


def _stage(name: str) -> None:
    print(f"\n=== {name} " + "=" * max(0, 60 - len(name)), flush=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args) -> int:
    import json
    import time
    from importlib import resources
    from pathlib import Path

    import yaml

    from hydra_ray.config import load_config

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    repo_configs = Path(__file__).resolve().parents[2] / "configs"
    sample = resources.files("hydra_ray").joinpath(SAMPLE)
    t0 = time.monotonic()

    _stage("1/5 enrich: measure the sample pairs in the sandbox")
    from hydra_ray.enrich.config import EnrichConfig
    from hydra_ray.enrich.pipeline import run_enrich

    ecfg = load_config(EnrichConfig, repo_configs / "enrich" / "quick.yaml", [f"limit={args.pairs}"])
    summary = run_enrich(str(sample), out / "enrich", ecfg)
    print(f"verdicts {summary['verdicts']}; pairs differing significantly per metric "
          f"{summary['pairs_differing_significantly']}; outputs in {out / 'enrich'}")

    _stage("2/5 label: Dirichlet weights, rewards, DPO pairs")
    from hydra_ray.prefs.config import LabelConfig
    from hydra_ray.prefs.run import label_directory

    lcfg = load_config(LabelConfig, repo_configs / "label" / "default.yaml", ["samples_per_pair=4"])
    label_out = out / "labelled"
    report = label_directory(out / "enrich", label_out, lcfg, overwrite=True)
    print(f"examples {report.stats['examples']}; stats: {label_out / 'stats.json'}; plots: {label_out / 'plots'}")
    if not report.stats["examples"]["labelled"]:
        print("no labelled examples: every pair was a tie or failed (see stats.json); stopping before training")
        return 1

    _stage("3/5 train: DPO + LoRA under Ray Train with the α actor (tiny model)")
    from hydra_ray.train.tiny_model import build_tiny_model

    model_dir = out / "tiny-model"
    if not (model_dir / "config.json").exists():
        build_tiny_model(model_dir)
    from hydra_ray.train.config import TrainConfig
    from hydra_ray.train.driver import run_training

    tcfg = load_config(TrainConfig, repo_configs / "train" / "tiny-cpu.yaml",
                       [f"model.name_or_path={model_dir}", f"dpo.max_steps={args.steps}",
                        f"dpo.save_steps={args.steps}"])
    outcome = run_training(tcfg, label_out, out / "train")
    alpha = ", ".join(f"{r} {a:.3f}" for r, a in outcome.alpha.items())
    print(f"trained {outcome.steps} steps; α: {alpha}; adapter: {out / 'train' / 'adapter'}; "
          f"metrics: {out / 'train' / 'metrics.jsonl'}; plots: {out / 'train' / 'plots'}")

    _stage("4/5 serve: Ray Serve with the trained adapter")
    from hydra_ray.serve import start_service, stop_service
    from hydra_ray.serve.client import call, format_result

    port = args.port or _free_port()
    url = start_service(repo_configs / "serve" / "tiny-cpu.yaml", host="127.0.0.1", port=port,
                        overrides=[f"model.training_output={out / 'train'}"])
    print(f"service up at {url} (OpenAPI: {url}docs)")
    try:
        _stage("5/5 optimize: one request")
        first = json.loads(sample.read_text().splitlines()[0])
        body = {"code": first["slow"]["code"], "tests": first["tests"], "preset": "runtime",
                "n_candidates": 2, "max_new_tokens": 128}
        resp = call(url, "/v1/optimize", body)
        (out / "optimize_response.json").write_text(json.dumps(resp, indent=2))
        print(format_result(resp))
    finally:
        stop_service()
    print(f"\ndemo finished in {time.monotonic() - t0:.0f} s; everything is under {out}/")
    return 0
