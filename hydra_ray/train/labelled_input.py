"""Checks and notes on a labelled set (``hydra-ray label``'s output) before training starts: what it was
made with (prompt conditioning, α), whether it has rows, and whether it shares problems with the
evaluation's held-out split. All run on the driver before Ray starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hydra_ray.train.config import TrainConfig


def heldout_problems(split_path: str, labels: Path) -> list[str]:
    """Training on a held-out problem would make the evaluation on it meaningless."""
    import pyarrow.parquet as pq

    from hydra_ray.evaluate.suites.pie import SplitError, SplitOverlapError, check_disjoint, load_split

    try:
        split = load_split(split_path)
    except SplitError as e:
        return [f"heldout_split: {e}"]
    ids = pq.read_table(labels, columns=["problem_id"]).column("problem_id").to_pylist()
    try:
        check_disjoint(ids, split)
    except SplitOverlapError as e:
        return [f"heldout_split={split_path}: {e}; drop those problems from the labelled set or use another split"]
    return []


def labelled_conditioning(labeler_json: str | Path) -> str:
    """The prompt conditioning a labelled set was made with (labeler.json; 'weights' before the field existed)."""
    import json

    return (json.loads(Path(labeler_json).read_text()).get("config") or {}).get("prompt_conditioning", "weights")


def heldout_overlap_note(cfg: TrainConfig, labels: str | Path) -> str | None:
    """Without ``heldout_split``, a note when the labelled set shares problems with the shipped evaluation
    split: nothing is refused, but an evaluation on ``pie_heldout`` would include trained-on problems."""
    if cfg.heldout_split or not Path(labels).is_file():
        return None
    import pyarrow.parquet as pq

    from hydra_ray.evaluate.suites.pie import DEFAULT_SPLIT, load_split

    import pyarrow as pa

    split = load_split(DEFAULT_SPLIT)
    try:
        ids = set(pq.read_table(labels, columns=["problem_id"]).column("problem_id").to_pylist())
    except (pa.ArrowException, OSError, KeyError):
        return None   # an unreadable set is reported where it is read, with what to do about it
    shared = sorted(ids & split.problem_ids)
    if not shared:
        return None
    shown = ", ".join(shared[:5]) + (", …" if len(shared) > 5 else "")
    rel = DEFAULT_SPLIT.relative_to(DEFAULT_SPLIT.parents[3])
    return (f"note: {len(shared)} of the labelled set's {len(ids)} problems ({shown}) are held out for evaluation "
            f"in {rel}: an evaluation of this adapter on pie_heldout would test on problems it was trained on; "
            f"heldout_split={rel} refuses such a set")


def labelled_alpha_note(cfg: TrainConfig, labeler_json: str | Path) -> str | None:
    """A note when the labelled set's weights were drawn from a non-uniform α that training won't use.

    framework=enhanced redraws every batch's weights from the adaptive α, which starts at
    ``alpha.initial`` for every region (the paper, Appendix E: "initialized roughly equally to simulate a
    uniform prior") and stays within [alpha_min, alpha_max]; the label preset's α only shaped the stored
    labels, which framework=base keeps. A "runtime-focused" labelled set is not runtime-focused training."""
    import json

    from hydra_ray.prefs.dirichlet import resolve_alpha

    spec = (json.loads(Path(labeler_json).read_text()).get("config") or {}).get("alpha", "intermediate")
    try:
        alpha = resolve_alpha(spec)
    except (ValueError, TypeError):
        return None
    if cfg.framework != "enhanced" or float(alpha.max() - alpha.min()) < 1e-9:
        return None
    return (f"note: {labeler_json} was labelled with α={spec} (not uniform), but framework=enhanced redraws "
            f"each batch's weights from the adaptive α, which starts at {cfg.alpha.initial:g} for every region "
            f"(paper, Appendix E) within [{cfg.alpha.alpha_min:g}, {cfg.alpha.alpha_max:g}]; the labels' own "
            f"weights are kept only with framework=base")


def conditioning_problems(cfg: TrainConfig, labeler_json: Path) -> list[str]:
    have = labelled_conditioning(labeler_json)
    if cfg.prompt_conditioning is not None and cfg.prompt_conditioning != have:
        return [f"prompt_conditioning: the train config asks for {cfg.prompt_conditioning!r} but {labeler_json} "
                f"was labelled with {have!r}; label and train must agree (stored prompts and re-rendered ones "
                f"would differ): relabel with `hydra-ray label ... prompt_conditioning={cfg.prompt_conditioning}` "
                f"or drop the override"]
    return []


def unreadable_problem(path: Path, error: BaseException) -> str:
    """One line for a labelled-set file that cannot be used, and how to make it again."""
    return (f"--input {path.parent}: {path.name} cannot be read ({type(error).__name__}: {str(error).strip()[:300]}); "
            f"recreate it with `hydra-ray label --input ENRICHED_DIR --output {path.parent}`")


def input_problems(d: Path) -> list[str]:
    """A labelled set the workers could not train from, said on the driver before Ray starts: an unreadable
    or other-version ``labeler.json``, a ``labels.parquet`` that is not Parquet, lacks the columns training
    reads (written by another tool or an older ``hydra-ray label``), or has no rows. Found only on the
    workers, each of these cost a Ray start and the workers' set-up first (and a missing column came back
    as a bare ``KeyError: 'raw_a'``)."""
    import pyarrow.parquet as pq

    from hydra_ray.prefs.dataset import LABEL_SCHEMA
    from hydra_ray.prefs.labels import Labeler

    problems: list[str] = []
    labeler = d / "labeler.json"
    if labeler.is_file():
        try:
            Labeler.load(labeler)   # what the workers' relabeller loads: format, version, config
        except (OSError, ValueError, KeyError, TypeError) as e:
            problems.append(unreadable_problem(labeler, e))
    labels = d / "labels.parquet"
    if not labels.is_file():
        return problems
    try:
        meta = pq.ParquetFile(labels)
        names, rows = meta.schema_arrow.names, meta.metadata.num_rows
    except (OSError, ValueError) as e:   # pyarrow's ArrowInvalid is a ValueError
        return problems + [unreadable_problem(labels, e)]
    missing = [n for n in LABEL_SCHEMA.names if n not in names]
    if missing:
        problems.append(f"--input {d}: labels.parquet lacks column(s) {', '.join(missing)} that training reads "
                        "(not written by this version of `hydra-ray label`); recreate it with "
                        f"`hydra-ray label --input ENRICHED_DIR --output {d}`")
    elif rows == 0:
        problems.append(f"--input {d}: labels.parquet has no rows, nothing to train on (every pair was skipped or "
                        f"every draw dropped: {d / 'stats.json'} counts why)")
    return problems
