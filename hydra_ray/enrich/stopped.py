"""What an enrich run writes about itself: ``summary.json``'s figures (:func:`run_summary`), and what
a run stopped before its end keeps (:func:`keep_stopped`): the sets it holds, the rejected rows found
so far and an unfinished summary, each written on its own so one failing write costs nothing else.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from hydra_ray.enrich.config import EnrichConfig
from hydra_ray.enrich.storage import OutputStore
from hydra_ray.enrich.summary import summarize_output

if TYPE_CHECKING:   # the pipeline imports this module
    from hydra_ray.enrich.pipeline import _Run


def run_summary(store: OutputStore, run: "_Run", cfg: EnrichConfig, *, t_start: float, scan_s: float,
             placement: str | None, nodes_left: list[dict] | None, compacted: tuple | None) -> dict[str, Any]:
    """summary.json's figures, of a finished run or of one stopped (counts so far)."""
    writer, counts = run.writer, run.counts
    summary = summarize_output(store, wall_s=time.monotonic() - t_start, measured_now=writer.sets_written,
                               placement=placement, config=cfg.to_dict())
    summary.update({
        "valid_records": counts.get("valid", 0), "records_read": counts.get("records_read", 0),
        "rejected_rows": counts.get("rejected", 0), "rejected_by_reason": counts.get("rejected_by_reason", {}),
        "sets_done_before_this_run": counts.get("already", 0), "nodes_left_this_run": nodes_left,
        # blocks that waited ORDER_WAIT_S for the blocks before them and claimed anyway (expected 0):
        # then which of two duplicate records was kept depended on arrival order
        "blocks_claimed_out_of_order": counts.get("blocks_out_of_order", 0),
        "files_written_this_run": writer.files_written, "data_files": len(store.part_files()),
        "compacted_files": list(compacted) if compacted else None,
        "resume_scan_s": round(scan_s, 3), "batch_size_used": run.batch_size,
        # from the pipeline's start (Ray up, output scanned) and from the command's start
        "first_set_s": round(run.first_set_at - run.t0, 2) if run.first_set_at else None,
        "first_set_s_from_start": round(run.first_set_at - t_start, 2) if run.first_set_at else None,
        # Excluding Ray start-up: the rate a long run converges to.
        "measure_wall_s_this_run": round(run.measure_s, 2),
        "sets_per_s_measuring": round(writer.sets_written / run.measure_s, 3) if run.measure_s > 0 else None,
    })
    return summary


def keep_stopped(e: BaseException, store: OutputStore, run: "_Run", cfg: EnrichConfig, *,
                 t_start: float, scan_s: float) -> str:
    """A run stopped before its end (Ctrl-C, SIGTERM, an error) keeps what it knows: the sets it holds,
    the rejected rows found so far (added to those an earlier run's ``rejected.jsonl`` holds: this run
    may have stopped before reading that far), and a ``summary.json`` of the counts so far with
    ``"finished": false`` and why. Each step on its own, so one that fails (the error may be the
    storage's) does not cost the others; returns the line that says what was kept."""
    from hydra_ray.ray_runtime import Terminated, error_line, terminated

    if isinstance(e, KeyboardInterrupt):
        sigterm = isinstance(e, Terminated) or terminated()
        by, why, error = ("sigterm", "SIGTERM", None) if sigterm else ("interrupt", "interrupted", None)
    else:
        by, why, error = "error", "by an error", error_line(e)   # as the CLI prints it
    writer, wrote, failed = run.writer, [], []
    try:
        writer.close()
    except Exception as err:  # noqa: BLE001 - said in the line; the stop's own cause is what propagates
        failed.append(f"the last {writer.sets} measured set(s) ({type(err).__name__}: {err})")
    earlier = 0
    try:
        run.final_drain()   # rejected rows the housekeeping thread had not fetched yet
        run.spool.close()
        earlier = add_earlier_rejects(run.spool.name, store.read_text("rejected.jsonl"))
        store.upload(run.spool.name, "rejected.jsonl")
        found = run.counts.get("rejected", 0)
        wrote.append(f"rejected.jsonl ({found} row(s) found so far"
                     + (f", {earlier} kept from an earlier run)" if earlier else ")"))
    except Exception as err:  # noqa: BLE001
        failed.append(f"rejected.jsonl ({type(err).__name__}: {err})")
    total = None
    try:
        summary = run_summary(store, run, cfg, t_start=t_start, scan_s=scan_s,
                              placement=run.plan.reason if run.plan else None, nodes_left=None, compacted=None)
        summary.update({"finished": False, "stopped_by": by, "error": error,
                        "rejected_rows_from_earlier_runs": earlier})
        store.write_text("summary.json", json.dumps(summary, indent=2))
        total = summary["sets_total"]
        wrote.append("summary.json (unfinished)")
    except Exception as err:  # noqa: BLE001
        failed.append(f"summary.json ({type(err).__name__}: {err})")
    return (f"[enrich] stopped ({why}): {writer.sets_written} set(s) measured this run are kept in {store.location}"
            + (f" ({total} in all)" if total is not None else "")
            + (f"; {' and '.join(wrote)} written" if wrote else "")
            + (f"; could not write {'; '.join(failed)}" if failed else "")
            + "; rerun the same command to resume")


def add_earlier_rejects(spool: str, earlier: str | None) -> int:
    """Append to the spool (this run's rejected rows) the rows of the earlier ``rejected.jsonl`` this
    run did not find again; returns how many. A finished run rewrites the file whole instead."""
    if not earlier:
        return 0
    with open(spool) as f:
        seen = set(f.read().splitlines())
    rows = [ln for ln in earlier.splitlines() if ln.strip() and ln not in seen]
    with open(spool, "a") as f:
        f.writelines(ln + "\n" for ln in rows)
    return len(rows)
