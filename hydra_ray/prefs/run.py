"""One labelling run: ENRICHED_DIR → LABELLED_DIR (what ``hydra-ray label`` does, minus argument parsing).

Outputs: ``labels.parquet`` (+ ``labels.jsonl`` when ``write_jsonl``), ``labeler.json``
(:meth:`Labeler.save`), ``stats.json`` (:mod:`hydra_ray.prefs.summary` plus a ``run`` section with the
input fingerprint and config) and ``plots/*.png``.

An existing output is replaced only when it came from the same input files, the same config and the
same pairing rules (the result is then identical, since labelling is deterministic) or when
``overwrite`` is set; otherwise :class:`OutputExistsError`. ``PAIRING_RULES`` numbers the rules that
change the result of the same input and config: an output of older rules (none recorded: 1) whose
result they would change is refused like a config change. Files are written to a temporary folder
inside the output and moved into place at the end, so an interrupted run never leaves a half-written
dataset under the final names.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hydra_ray.paths import OutputExistsError, check_output_dir
from hydra_ray.prefs.config import LabelConfig
from hydra_ray.prefs.dataset import gives_example, label_pairs, write_jsonl, write_parquet
from hydra_ray.prefs.group_balance import dominance_note
from hydra_ray.prefs.input_notes import estimated_metrics, input_notes
from hydra_ray.prefs.labels import Labeler
from hydra_ray.prefs.pairs import (candidates_from_frame, enriched_files, form_pairs, group_candidates,
                                   passed_values, read_enriched)
from hydra_ray.prefs.plots import write_plots
from hydra_ray.prefs.summary import compute_stats, coverage, speedups
from hydra_ray.run_identity import changed_fields, files_digest, refusal

OUTPUT_NAMES = ("labels.parquet", "labels.jsonl", "labeler.json", "stats.json", "plots")

# Recorded in stats.json (run.pairing_rules). 1 (none recorded): max_pairs_per_group sampled all of a
# group's pairs, usable or not. 2: it caps the pairs that give an example (hydra_ray.prefs.pairs,
# "The cap"), walked in another seeded order; groups that were never capped give the same pairs.
PAIRING_RULES = 2


@dataclass
class RunReport:
    output: Path
    files: list[Path]
    stats: dict[str, Any]
    rewritten: bool       # an identical earlier output was replaced


def input_fingerprint(input_dir: str | Path) -> str:
    return files_digest(enriched_files(input_dir), Path(input_dir) / "data")


def _existing_stats(out: Path) -> dict[str, Any] | None:
    """An existing output's stats.json; {} when ours but unreadable; None if there is no output."""
    if not any((out / n).exists() for n in OUTPUT_NAMES):
        return None
    try:
        stats = json.loads((out / "stats.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return stats if isinstance(stats, dict) else {}


def _rules_change_result(prev_stats: dict[str, Any]) -> bool:
    """Would this code's pairing rules give another dataset than the ones ``prev_stats`` was made by,
    from the same input and config? Rules 1 → 2 changed only groups that were capped."""
    prev = (prev_stats.get("run") or {}).get("pairing_rules", 1)
    if prev == PAIRING_RULES:
        return False
    skipped = (prev_stats.get("pairs") or {}).get("skipped")
    return prev != 1 or not isinstance(skipped, dict) or bool(skipped.get("over_group_cap"))


def _check_output(out: Path, run: dict[str, Any], overwrite: bool) -> bool:
    prev_stats = _existing_stats(out)
    if prev_stats is None:
        return False
    prev = prev_stats.get("run") or {}
    rules_changed = _rules_change_result(prev_stats)
    if prev.get("input_fingerprint") == run["input_fingerprint"] and prev.get("config") == run["config"] \
            and not rules_changed:
        return True
    if overwrite:
        return True
    what = []
    if prev.get("input_fingerprint") != run["input_fingerprint"]:
        what.append("input data")
    changed = changed_fields(prev.get("config") or {}, run["config"])
    if changed:
        what.append(f"config ({', '.join(changed)})")
    if rules_changed:
        what.append(f"pairing rules (pairing_rules: {prev.get('pairing_rules', 1)} → {PAIRING_RULES}: "
                    "max_pairs_per_group now caps a group's labelled pairs, where it sampled all of its pairs "
                    "before skipping those that cannot be labelled; this output has capped groups, so the "
                    "same config gives other pairs now)")
    raise refusal(out, "a labelled dataset", what, "pass --overwrite to replace it")


def label_directory(input_dir: str | Path, output_dir: str | Path, config: LabelConfig, *,
                    overwrite: bool = False, log: Callable[[str], None] = print) -> RunReport:
    inp, out = Path(input_dir), Path(output_dir)
    if out.resolve() == inp.resolve():
        raise OutputExistsError(f"--output {out} is the enriched input folder; choose a separate folder")
    check_output_dir(out)
    df = read_enriched(inp)
    run_info = {"input": str(inp), "input_fingerprint": input_fingerprint(inp), "config": config.to_dict(),
                "pairing_rules": PAIRING_RULES}
    rewritten = _check_output(out, run_info, overwrite)
    log(f"read {len(df)} candidate rows in {df['pair_id'].nunique()} groups from {inp / 'data'}; forming pairs "
        "(significance from repeat samples where the enriched data has none) …")
    cands = candidates_from_frame(df)
    # Fitted on every passed candidate (not on pairs), so it exists before the cap, which counts pairs
    # that give an example (hydra_ray.prefs.pairs, "The cap").
    labeler = Labeler.fit(config, passed_values(group_candidates(cands)))
    pairing = form_pairs(cands, significance_alpha=config.significance_alpha,
                         significance_min_effect=config.significance_min_effect,
                         max_pairs_per_group=config.max_pairs_per_group, seed=config.seed,
                         max_cpu_speed_cv=config.max_cpu_speed_cv, usable=lambda p: gives_example(p, labeler))
    skipped = sum(pairing.skipped.values())
    log(f"{len(pairing.pairs)} eligible pairs ({skipped} skipped: "
        f"{', '.join(f'{k} {v}' for k, v in pairing.skipped.most_common()) or 'none'})")
    if pairing.skipped.get("over_group_cap"):
        log(f"  over_group_cap: eligible pairs left unlabelled because their group already had "
            f"max_pairs_per_group={config.max_pairs_per_group} pairs that give an example")
    # Before any figure: a partial or mixed input, and which metrics are estimates (input_notes.py).
    notes = input_notes(inp, df, coverage(pairing))
    for note in notes:
        log(note)

    import time

    last = [time.monotonic()]

    def progress(done: int, total: int) -> None:
        # A line every 5 s while it runs (large sets take minutes), and one at the end.
        if done == total or time.monotonic() - last[0] >= 5.0:
            last[0] = time.monotonic()
            log(f"  labelled {done}/{total} pairs")

    result = label_pairs(pairing.pairs, labeler, progress)
    # Over the pairs that gave an example: what the dataset holds, and what the cap counts.
    labelled = {e.pair.key: e.pair.pair_id for e in result.meta}
    lopsided = dominance_note(labelled.values(), config.max_pairs_per_group)
    if lopsided:
        log(lopsided)
        notes.append(lopsided)
    stats = compute_stats(pairing, result, labeler)
    stats["run"] = run_info
    stats["input_notes"] = notes

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".label-tmp-", dir=out))
    try:
        write_parquet(result.rows, tmp / "labels.parquet")
        if config.write_jsonl:
            write_jsonl(result.rows, tmp / "labels.jsonl")
        labeler.save(tmp / "labeler.json")
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2, default=float) + "\n")
        write_plots(stats, speedups(pairing.pairs), tmp / "plots")
        for name in OUTPUT_NAMES:  # stale files of an older run (e.g. a JSONL no longer asked for) go too
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            if (tmp / name).exists():
                (tmp / name).rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    files = [out / n for n in OUTPUT_NAMES if (out / n).exists()]
    ex = stats["examples"]
    log(f"{ex['labelled']} examples from {ex['weight_draws']} weight draws "
        f"({ex['dropped_total']} dropped: {', '.join(f'{k} {v}' for k, v in ex['dropped'].items()) or 'none'})")
    est = estimated_metrics(stats["coverage"])
    log("regions: " + ", ".join(f"{r}{'*' if r in est else ''} {n}" for r, n in stats["regions"]["labelled"].items())
        + (" (* an estimated metric)" if est else ""))
    log(f"wrote {', '.join(f.name + ('/' if f.is_dir() else '') for f in files)} in {out}")
    return RunReport(out, files, stats, rewritten)
