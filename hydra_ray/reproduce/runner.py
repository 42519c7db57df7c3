"""``hydra-ray reproduce``: every figure and table of the Hydra paper that runs without a GPU, beside the
paper's own numbers, in ``OUTPUT/REPORT.md`` and ``OUTPUT/figures/``.

One embedded Ray (CPU only, no network) serves the stages that use it (enrichment, training). Each
section runs on its own: one that fails is reported as such and the others still run (exit status 1).
"""
from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from hydra_ray.reproduce import paper
from hydra_ray.reproduce.sections import Section, failed_section, table

PACKAGE = Path(__file__).resolve().parents[1]
SAMPLE = PACKAGE / "sample_data" / "pie_sample.jsonl"
SHARED_PIE = PACKAGE.parents[1] / "shared" / "data" / "pie_python_pairs_cn.jsonl"
TABLE3_PATTERNS = [row[1] for row in paper.TABLE3]


@dataclass
class Plan:
    quick: bool
    pie: str                       # PIE pairs to enrich for Fig. 7
    pie_pairs: int
    patterns: list[str]
    sizes: list[str]
    repeats: int
    n_boot: int
    identity: bool
    train_steps: int
    train_workers: int
    train_pairs: int | None
    metrics: str | None = None     # a metrics.jsonl to draw Fig. 5/6/8 from, instead of training
    profile_mode: str | None = None   # None: the evaluate configuration's default (measure.mode)
    only: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, quick: bool, pie: str | None = None, **kw) -> "Plan":
        if quick:
            base = dict(pie=pie or str(SAMPLE), pie_pairs=2, patterns=["triangular_sum", "string_concat"],
                        sizes=["small"], repeats=4, n_boot=300, identity=False, train_steps=6, train_workers=1,
                        train_pairs=12)
        else:
            default_pie = str(SHARED_PIE) if SHARED_PIE.is_file() else str(SAMPLE)
            base = dict(pie=pie or default_pie, pie_pairs=60, patterns=list(TABLE3_PATTERNS),
                        sizes=["small", "large"], repeats=5, n_boot=2000, identity=True,
                        train_steps=60, train_workers=2, train_pairs=None)
        base.update({k: v for k, v in kw.items() if v is not None})
        return cls(quick=quick, **base)


SECTIONS = ("simulation", "coverage", "evaluation", "training")


class Reproduction:
    def __init__(self, plan: Plan, output: str | Path, emit: Callable[[str], None] = print):
        self.plan, self.out, self.emit = plan, Path(output), emit
        self.figures = self.out / "figures"
        self.work = self.out / "work"
        self.sections: list[Section] = []
        self._started_ray = False
        self.mode = plan.profile_mode or "the evaluate default"

    def _ensure_ray(self) -> None:
        """One embedded Ray (2 CPUs) for the stages that use Ray, started when the first needs it; never a
        cluster someone else runs on this machine (hydra_ray.ray_runtime, quiet unless -v)."""
        import ray

        from hydra_ray.ray_runtime import connect
        from hydra_ray.train.config import offline_runtime_env

        if ray.is_initialized():
            return

        # connect() itself retries a start that misses Ray's 30 s registration window.
        self._started_ray = connect("local", num_cpus=2, include_dashboard=False,
                                    runtime_env=offline_runtime_env(), emit=self.emit)

    def _fig(self, src: Path, name: str) -> str | None:
        if src.is_file():
            shutil.copyfile(src, self.figures / name)
            return f"figures/{name}"
        return None

    def _run(self, key: str, title: str, fn: Callable[[], list[Section]]) -> None:
        if self.plan.only and key not in self.plan.only:
            return
        self.emit(f"[reproduce] {title} …")
        t0 = time.monotonic()
        try:
            made = fn()
        except Exception as e:   # noqa: BLE001 - reported in REPORT.md; the other sections still run
            from hydra_ray.ray_runtime import verbose

            # The traceback with -v, as every command does; the error itself is in REPORT.md either way.
            self.emit(f"[reproduce] {title} failed: {type(e).__name__}: {e}"
                      + (f"\n{traceback.format_exc()}" if verbose() else " (rerun with -v for the traceback)"))
            made = [failed_section(key, title, f"{type(e).__name__}: {e}", time.monotonic() - t0)]
        for s in made:
            s.seconds = s.seconds or (time.monotonic() - t0) / len(made)
        self.sections += made
        self.emit(f"[reproduce] {title}: {', '.join(s.verdict for s in made)} ({time.monotonic() - t0:.0f} s)")

    # ---- sections ---------------------------------------------------------------------------------
    def simulation(self) -> list[Section]:
        from hydra_ray.reproduce.sections import simulation_section
        from hydra_ray.train.simulate import PAPER_SETTINGS, simulate, write_simulation

        d = self.work / "simulation"
        data = write_simulation(simulate(), d)
        figs = [self._fig(d / "alpha_simulation.png", "fig10_alpha_simulation.png"),
                self._fig(d / "region_losses.png", "fig11_region_losses.png")]
        return [simulation_section(data, PAPER_SETTINGS, [f for f in figs if f])]

    def coverage(self) -> list[Section]:
        from hydra_ray.config import load_config
        from hydra_ray.enrich.config import EnrichConfig
        from hydra_ray.enrich.pipeline import run_enrich
        from hydra_ray.evaluate.report import _jsonable
        from hydra_ray.reproduce.coverage import coverage_stats, pairs_of, plot_fig7
        from hydra_ray.reproduce.sections import coverage_section

        p = self.plan
        quick_preset = PACKAGE.parent / "configs" / "enrich" / "quick.yaml"
        overrides = [f"limit={p.pie_pairs}"] + (["profile.repeats=5"] if not p.quick else [])
        cfg = load_config(EnrichConfig, quick_preset if quick_preset.is_file() else None, overrides)
        # One folder per input file: a rerun with another --pie must not pool its pairs with these.
        d = self.work / "enrich" / Path(p.pie).stem
        self._ensure_ray()
        summary = run_enrich(p.pie, d, cfg, emit=self.emit)
        pairs, skipped, groups = pairs_of(d)
        stats = coverage_stats(pairs)
        fig = plot_fig7(stats, self.figures / "fig7_coverage.png", paper.FIG7_MEMORY_PREF_RATE,
                        title=f"Fig. 7 layout: {len(pairs)} PIE pairs enriched here ({Path(p.pie).name})")
        (self.work / "coverage.json").write_text(json.dumps(
            _jsonable({"stats": stats, "skipped": skipped, "enrich_summary": summary}), indent=2, default=str))
        asked = f"first {p.pie_pairs} valid pairs" + (
            f"; this output already held {groups} from an earlier run with more, all used here"
            if groups > p.pie_pairs else "")
        return [coverage_section(stats, groups, f"`{Path(p.pie).name}` ({asked})", skipped, [f"figures/{fig.name}"])]

    def evaluation(self) -> list[Section]:
        from hydra_ray.reproduce.evaluation import (evaluate_config, mode_of, run_evaluation, table2_frame,
                                                    table3_rows)
        from hydra_ray.reproduce.sections import table2_section, table3_section
        from hydra_ray.serve.recorded import DEMO_FILE

        p = self.plan
        d = self.work / "evaluate"
        cfg = evaluate_config(p.patterns, p.sizes, p.repeats, p.n_boot, d, p.profile_mode, p.identity)
        self.mode = mode_of(cfg)
        res = run_evaluation(cfg, d, log=self.emit)
        df, summary = res["frame"], res["summary"]
        t3 = table3_rows(df, paper.TABLE3)   # all seven rows; those not measured in this run say so
        figs3 = [f for f in (self._fig(d / "sizes.png", "table3_sizes.png"),) if f]
        t2 = table2_frame(df)
        t2.to_csv(self.work / "table2_prompts.csv", index=False)
        figs2 = [f for f in (self._fig(d / "pareto_detailed.png", "fig2_pareto_detailed.png"),
                             self._fig(d / "pareto_minimal.png", "fig3_pareto_minimal.png")) if f]
        return [table3_section(t3, summary.get("estimated_metrics") or {}, self.mode, p.sizes, figs3),
                table2_section(t2, figs2, f"`{DEMO_FILE.name}`")]

    def training(self) -> list[Section]:
        from hydra_ray.reproduce.sections import training_section
        from hydra_ray.reproduce.training import tiny_training, training_findings
        from hydra_ray.train.plots import read_metrics, write_paper_figures

        p = self.plan
        if p.metrics:
            path, source, tiny = Path(p.metrics), f"`{p.metrics}` (given with --metrics)", False
        else:
            self._ensure_ray()
            path = tiny_training(self.work / "training", p.train_steps, p.train_workers, p.train_pairs, self.emit)
            import pyarrow.parquet as pq

            labelled = pq.read_table(self.work / "training" / "labelled" / "labels.parquet", columns=["pair_id"])
            n_pairs = len(set(labelled.column("pair_id").to_pylist()))
            source = (f"a tiny run here ({p.train_steps} DPO steps, {p.train_workers} Ray Train worker(s), the "
                      f"2-layer random-weight fixture model, {n_pairs} PIE pairs labelled from their reports)")
            tiny = True
        rows = read_metrics(path)
        if not rows:
            raise ValueError(f"{path}: no rows (expected a hydra-ray train metrics.jsonl)")
        written = write_paper_figures(rows, self.work / "training-figures")
        figs = [self._fig(w, w.name) for w in written]
        return [training_section(training_findings(rows), source, [f for f in figs if f], tiny)]

    # ---- the whole run ----------------------------------------------------------------------------
    def run(self) -> int:
        t0 = time.monotonic()
        self.figures.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        try:
            self._run("simulation", "Fig. 10/11 (α simulation)", self.simulation)
            self._run("coverage", "Fig. 7 (dataset coverage)", self.coverage)
            self._run("evaluation", "Table III and Table II (patterns suite)", self.evaluation)
            self._run("training", "Fig. 5/6/8 (training dynamics)", self.training)
        finally:
            if self._started_ray:
                from hydra_ray.ray_runtime import shutdown

                shutdown()
        wall = time.monotonic() - t0
        (self.out / "REPORT.md").write_text(self.report(wall))
        (self.out / "reproduce.json").write_text(json.dumps(
            {"plan": asdict(self.plan), "wall_s": round(wall, 1),
             "sections": [{"key": s.key, "title": s.title, "verdict": s.verdict, "why": s.why,
                           "figures": s.figures, "seconds": round(s.seconds, 1)} for s in self.sections]},
            indent=2) + "\n")
        self.emit(f"[reproduce] wrote {self.out / 'REPORT.md'} in {wall:.0f} s")
        return 1 if any(s.verdict.startswith("not run") for s in self.sections) else 0

    def report(self, wall: float) -> str:
        p = self.plan
        mode = "`--quick`" if p.quick else "default (full)"
        out = ["# Reproducing the Hydra paper without a GPU", "",
               f"`hydra-ray reproduce` {mode}, {wall / 60:.1f} min on {os.cpu_count()} CPU core(s), embedded Ray, "
               f"no network. Measurement mode (Table III/II): `{self.mode}`. Paper: *Hydra: Multi-Objective Software "
               "Optimization using Large Language Models* (shared/paper/hydra-paper.txt). Every number of ours "
               "below was measured or computed in this run; estimates are marked. Differences from the paper are "
               "listed in README.md, “Differences from the paper”.", "",
               "## Summary", "",
               table(["paper item", "verdict", "why"], [[s.title, s.verdict, s.why] for s in self.sections]), ""]
        out += [s.markdown() for s in self.sections]
        out += ["## How this run was made", "", "```json", json.dumps(asdict(p), indent=2), "```", ""]
        return "\n".join(out)
