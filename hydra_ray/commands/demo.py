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


def _shown(path) -> str:
    """A path as the user would type it: relative to where they ran the command when inside it."""
    import os

    p = str(path)
    if "://" in p:
        return p
    rel = os.path.relpath(p)
    return p if rel.startswith("..") else rel


class StageReport:
    """One line per stage at the end: what it produced, where, and how long it took."""

    def __init__(self) -> None:
        import time

        self.rows: list[tuple[str, str, str, float]] = []
        self._t = time.monotonic()

    def done(self, stage: str, produced: str, where) -> None:
        import time

        now = time.monotonic()
        self.rows.append((stage, produced, _shown(where), now - self._t))
        self._t = now

    def print(self, total_s: float) -> None:
        print("\n=== demo report " + "=" * 46)
        width = max(len(r[0]) for r in self.rows) if self.rows else 0
        for stage, produced, where, secs in self.rows:
            print(f"{stage:<{width}}  {secs:5.0f} s  {produced} → {where}")
        print(f"{'total':<{width}}  {total_s:5.0f} s")


def run(args) -> int:
    import json
    import time
    from importlib import resources
    from pathlib import Path

    from hydra_ray.config import load_config

    out = Path(args.output)   # absolute: the CLI resolves paths against the working directory
    out.mkdir(parents=True, exist_ok=True)
    repo_configs = Path(__file__).resolve().parents[2] / "configs"
    sample = resources.files("hydra_ray").joinpath(SAMPLE)
    t0 = time.monotonic()
    report = StageReport()
    # One embedded Ray for every stage (each command alone starts its own), shut down at the end.
    from hydra_ray.ray_runtime import connect, shutdown
    from hydra_ray.train.config import offline_runtime_env

    connect(num_cpus=None, include_dashboard=False, runtime_env=offline_runtime_env())
    try:
        return _stages(args, out, repo_configs, sample, report, t0)
    finally:
        shutdown()


def _stages(args, out, repo_configs, sample, report: StageReport, t0: float) -> int:
    import json
    import time

    from hydra_ray.config import load_config

    _stage("1/5 enrich: measure the sample pairs in the sandbox")
    from hydra_ray.enrich.config import EnrichConfig
    from hydra_ray.enrich.pipeline import run_enrich

    ecfg = load_config(EnrichConfig, repo_configs / "enrich" / "quick.yaml", [f"limit={args.pairs}"])
    summary = run_enrich(str(sample), out / "enrich", ecfg)
    verdicts = ", ".join(f"{n} {v}" for v, n in sorted(summary["verdicts"].items()))
    print(f"verdicts: {verdicts}; pairs differing significantly per metric: "
          f"{summary['pairs_differing_significantly']}")
    report.done("enrich", f"{summary['sets_total']} pairs measured ({verdicts})", out / "enrich")

    _stage("2/5 label: Dirichlet weights, rewards, DPO pairs")
    from hydra_ray.prefs.config import LabelConfig
    from hydra_ray.prefs.run import label_directory

    lcfg = load_config(LabelConfig, repo_configs / "label" / "default.yaml", ["samples_per_pair=4"])
    label_out = out / "labelled"
    labelled = label_directory(out / "enrich", label_out, lcfg, overwrite=True)
    ex = labelled.stats["examples"]
    report.done("label", f"{ex['labelled']} DPO examples", label_out)
    if not ex["labelled"]:
        print("no labelled examples: every pair was a tie or failed (see stats.json); stopping before training")
        report.print(time.monotonic() - t0)
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
    outcome = run_training(tcfg, label_out, out / "train", overwrite=True)   # as label above: the demo's own output
    alpha = ", ".join(f"{r} {a:.3f}" for r, a in outcome.alpha.items())
    print(f"trained {outcome.steps} steps; α: {alpha}; plots: {_shown(out / 'train' / 'plots')}")
    report.done("train", f"LoRA adapter after {outcome.steps} DPO steps", out / "train" / "adapter")

    _stage("4/5 serve: Ray Serve with the trained adapter")
    from hydra_ray.serve import start_service, stop_service
    from hydra_ray.serve.client import call, format_result

    port = args.port or _free_port()
    url = start_service(repo_configs / "serve" / "tiny-cpu.yaml", host="127.0.0.1", port=port,
                        overrides=[f"model.training_output={out / 'train'}"])
    print(f"service up at {url} (OpenAPI: {url}docs)")
    report.done("serve", "service up", url)
    try:
        _stage("5/5 optimize: one request")
        first = json.loads(sample.read_text().splitlines()[0])
        body = {"code": first["slow"]["code"], "tests": first["tests"], "preset": "runtime",
                "n_candidates": 2, "max_new_tokens": 128}
        resp = call(url, "/v1/optimize", body)
        (out / "optimize_response.json").write_text(json.dumps(resp, indent=2))
        # The table and the verdict; the best program itself is in the response file.
        print(format_result(resp).split("\n--- best program ---")[0].rstrip())
        best = resp["best"]
        kept = f"candidate {best['index']} is better" if best["improved"] else "the original stands"
        report.done("optimize", f"{len(resp.get('candidates', []))} candidates verified; {kept}",
                    out / "optimize_response.json")
    finally:
        stop_service(graceful=False)   # the demo's own Ray shutdown stops Serve with everything else
    report.print(time.monotonic() - t0)
    print(f"everything is under {_shown(out)}/")
    return 0
