"""``hydra-ray train`` on the driver: check the node, start the α hub actor, run Ray Train, write outputs.

Output directory::

    adapter/          peft LoRA adapter + tokenizer (PeftModel.from_pretrained(base, OUT/adapter))
    alpha.json        final α, its trajectory, per-update region losses, worker reports, resume info
    metrics.jsonl     one line per logged step (TRL's DPO metrics + α, region losses, advantages)
    workers.json      what each Ray Train worker reported (world size, trainable-weight checksum, …)
    plots/            alpha_trajectory.png, region_losses.png, loss.png; fig5_alpha.png, fig6_preference.png,
                      fig8_advantage.png (the paper's Fig. 5, 6, 8; hydra_ray.train.plots)
    config.yaml       the resolved configuration
    run.json          what defines the run (input digest, training fields), checked on a rerun (run_record)
    ray/              Ray Train storage (checkpoints), unless the config's storage_path puts them in a
                      bucket or shared directory; rerunning the same command resumes from there
    _work/            per-node scratch (TRL checkpoints before upload)

A configuration or input problem found on a worker (a missing model directory, say) is not retried:
every rank agrees on it before training starts and returns, and the driver raises it once.
Within one run, Ray Train restarts a failed worker group (a worker process or its node died) up to
``max_failures`` times from the latest checkpoint; ``alpha.json`` lists each restart under ``restarts``.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hydra_ray.config import ConfigError, dump_config
from hydra_ray.paths import check_output_dir
from hydra_ray.train import run_record
from hydra_ray.train.alpha import AlphaSettings
from hydra_ray.prefs.prompt import PROMPT_RECORD
from hydra_ray.train.config import TrainConfig, check_node, offline_runtime_env
from hydra_ray.train.labelled_input import heldout_overlap_note, labelled_alpha_note, labelled_conditioning

RUN_NAME = "train"


@dataclass
class TrainOutcome:
    output_dir: Path
    steps: int
    alpha: dict[str, float]
    resumed_from_step: int | None
    skipped: bool = False
    restarts: int = 0          # worker-group restarts after failures within this run


def alpha_settings(cfg: TrainConfig) -> AlphaSettings:
    a = cfg.alpha
    # One report per micro-batch per worker: an update every `update_interval` optimizer steps.
    per_update = a.update_interval * cfg.scaling.num_workers * cfg.dpo.gradient_accumulation_steps
    return AlphaSettings(lr=a.lr, alpha_min=a.alpha_min, alpha_max=a.alpha_max, initial=a.initial,
                         rule=a.rule, reports_per_update=per_update)


def train_attempt(config: dict) -> None:
    """The function each Ray Train worker runs, once per attempt (the first, and once per restart).

    Rank 0 first tells the hub a worker group is starting, and whether it resumes from a checkpoint,
    so a restart from scratch also drops what the failed attempt did to α (see AlphaHub.begin_attempt);
    the other ranks wait for rank 0 at the worker's first barrier before they draw weights."""
    import ray
    import ray.train

    from hydra_ray.train.worker import train_loop_per_worker

    from hydra_ray.train.worker import WorkerConfigError

    if ray.train.get_context().get_world_rank() == 0:
        ray.get(config["hub"].begin_attempt.remote(ray.train.get_checkpoint() is not None))
    try:
        train_loop_per_worker(config)
    except (ConfigError, WorkerConfigError) as e:
        # Not raised: Ray Train would retry it max_failures times, and a wrong path stays wrong.
        # The hub keeps it; every rank returns; the driver raises it once.
        if isinstance(e, ConfigError):
            ray.get(config["hub"].set_fatal.remote(e.problems, e.source))


def train_storage(cfg: TrainConfig, out: Path) -> tuple[str, str]:
    """(storage_path, run name) for Ray Train's RunConfig. A shared storage_path gets one run directory
    per output directory (its name plus a hash of its full path), so two runs never share checkpoints."""
    if cfg.storage_path is None:
        return str(out / "ray"), RUN_NAME
    import hashlib

    digest = hashlib.sha1(str(out).encode()).hexdigest()[:10]
    storage = cfg.storage_path.rstrip("/")
    if "://" not in storage:
        storage = str(Path(storage).resolve())   # Ray Train wants local storage paths absolute
    return storage, f"{out.name}-{digest}"


def _filesystem(storage: str):
    """(pyarrow filesystem, path in it) for Ray Train storage: a local path or a bucket URI, read
    through the same pyarrow filesystems Ray Train writes with."""
    import pyarrow.fs as pafs

    return pafs.FileSystem.from_uri(storage) if "://" in storage else (pafs.LocalFileSystem(), storage)


def has_checkpoints(storage: str, run_name: str) -> bool:
    """Whether Ray Train storage already holds checkpoints of this run."""
    import pyarrow.fs as pafs

    fs, root = _filesystem(storage)
    selector = pafs.FileSelector(f"{root.rstrip('/')}/{run_name}", allow_not_found=True)
    return any(info.type == pafs.FileType.Directory and info.base_name.startswith("checkpoint-")
               for info in fs.get_file_info(selector))


def _check_worker_node(cfg_dict: dict) -> tuple[str, list[str]]:
    import socket

    import ray

    from hydra_ray.config import from_dict
    from hydra_ray.train.config import worker_problems

    node = f"node {ray.get_runtime_context().get_node_id()[:12]} ({socket.gethostname()})"
    return node, worker_problems(from_dict(TrainConfig, cfg_dict), where=node)


def _preflight(cfg: TrainConfig, plan, emit: Callable[[str], None]) -> None:
    """Run the worker's node check once, in a task shaped like one training worker, before Ray Train
    starts: with use_gpu Ray Train sets up NCCL before our code runs, so a GPU node without a usable
    CUDA torch would otherwise fail with "Distributed package doesn't have NCCL built in". On an
    autoscaling cluster this task is also what first asks for the node type."""
    import ray

    per = dict(plan.resources_per_worker)
    options = {"num_cpus": per.pop("CPU", 1.0), "num_gpus": per.pop("GPU", 0.0)}
    if "memory" in per:
        options["memory"] = per.pop("memory")
    options["resources"] = per
    if plan.accelerator_type:
        options["accelerator_type"] = plan.accelerator_type
    check = ray.remote(_check_worker_node).options(**options).remote(cfg.to_dict())
    if not ray.wait([check], timeout=NODE_CHECK_QUIET_S)[0]:   # said only when it waits (a node being added)
        emit("[train] waiting for a node of the workers' shape to check it (an autoscaler adds one; "
             "on a fixed cluster, one must have what scaling.* asks for)")
    node, problems = ray.get(check)
    if problems:
        raise ConfigError(problems, f"train (node check on {node}, a node the workers would use)")
    emit(f"[train] {node} has what the workers need")


NODE_CHECK_QUIET_S = 10.0   # a node check that answers within this needs no "waiting" line


def _config_error_in(error: BaseException) -> ConfigError | None:
    """The worker's own ConfigError (e.g. a GPU preset on a node without CUDA) inside Ray Train's
    WorkerGroupError, so the CLI prints its problems rather than a remote traceback."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error, *getattr(error, "worker_failures", {}).values()]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ConfigError):
            return e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return None


def run_training(cfg: TrainConfig, input_dir: str | Path, output_dir: str | Path,
                 emit: Callable[[str], None] = print, overwrite: bool = False,
                 heldout_note: bool = True) -> TrainOutcome:
    """Train, resume, or report the finished run ``output_dir`` holds. A run there made from other input
    or config is refused (OutputExistsError) before anything is written, unless ``overwrite``: then it
    is deleted and training starts over. ``heldout_note=False``: no note on labelled problems held out
    for evaluation, for a caller whose adapter is never evaluated on them (reproduce's figure run)."""
    input_dir, out = Path(input_dir).resolve(), Path(output_dir).resolve()
    check_output_dir(out)
    if out == input_dir:
        # Training writes plots/ beside label's plots/, and --overwrite deletes plots/ (OUTPUT_NAMES).
        raise ConfigError([f"--output {out} is the labelled set itself (--input); training writes plots/ and "
                           "more there, and --overwrite would delete label's plots: give another --output, "
                           "e.g. a sibling folder"], "train")
    problems = check_node(cfg, input_dir)
    if problems:
        raise ConfigError(problems, "train (node check, before Ray starts)")
    if cfg.prompt_conditioning is None and (input_dir / "labeler.json").is_file():
        # Pinned from the labelled set, so config.yaml and adapter/hydra_prompt.json say what was used.
        cfg = cfg.replace(prompt_conditioning=labelled_conditioning(input_dir / "labeler.json"))
    storage, run_name = train_storage(cfg, out)
    identity = run_record.run_identity(cfg.to_dict(), input_dir)
    held = _held_run(out, storage, run_name)
    if held is not None and run_record.check_rerun(out, identity, held, overwrite):
        _delete_run(out, storage, run_name)
        emit(f"[train] --overwrite: deleted {held} made from other input or config; starting over")
    done = _completed(out)
    if done is not None:
        return TrainOutcome(out, done.get("steps", 0), done["alpha"], None, skipped=True)
    if (input_dir / "labeler.json").is_file() and (note := labelled_alpha_note(cfg, input_dir / "labeler.json")):
        emit(f"[train] {note}")
    if heldout_note and (note := heldout_overlap_note(cfg, input_dir / "labels.parquet")):
        emit(f"[train] {note}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(cfg))
    run_record.write_identity(out, identity)
    finished = _finished_outcome(storage, run_name, out)
    if finished is not None:
        emit(f"[train] training had finished (final checkpoint in {storage}/{run_name}); writing its outputs")
        return _write_outputs(cfg, out, finished["summary"], finished["workers"])
    resuming = has_checkpoints(storage, run_name)
    if not resuming and (out / "metrics.jsonl").exists():
        (out / "metrics.jsonl").unlink()   # a fresh run: rows of an earlier, unfinished attempt are stale

    # Ray Train's print patch defeats dill's stdout capture inside `datasets` (it then prints bytecode).
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from hydra_ray.placement import train_workers
    from hydra_ray.train.hub import AlphaHub
    from hydra_ray.train.interrupt import interruptible
    from hydra_ray.train.progress import ProgressTail

    from hydra_ray.ray_runtime import connect, quiet_console_handlers, shutdown

    quiet_console_handlers()   # ray.train is imported by now (also when Ray already runs, as in the demo)

    # A cluster when asked (config or $RAY_ADDRESS, as under `ray job submit`); else our own
    # embedded Ray, never a cluster someone else started on this machine.
    started = connect(cfg.ray_address, num_cpus=cfg.num_cpus, include_dashboard=False,
                      runtime_env=offline_runtime_env(), emit=emit)
    try:
        # On the driver's node, so metrics.jsonl lands in OUT whichever node rank 0 runs on.
        node = ray.get_runtime_context().get_node_id()
        hub = ray.remote(AlphaHub).options(
            name=f"hydra-alpha-{uuid.uuid4().hex[:8]}", num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(alpha_settings(cfg), str(out / "metrics.jsonl"), cfg.framework == "enhanced")
        plan = train_workers(ray.cluster_resources(), cfg.scaling)
        emit(f"[train] placement: {plan.describe()}")
        emit(f"[train] checkpoints: {storage}/{run_name}" + (" (resuming)" if resuming else ""))
        if cfg.storage_path is None and len([n for n in ray.nodes() if n["Alive"]]) > 1:
            emit("[train] note: checkpoints go to a path on the driver's filesystem; on a multi-node "
                 "cluster put --output on a filesystem every node mounts or set storage_path=s3://...")
        _preflight(cfg, plan, emit)
        trainer = interruptible(TorchTrainer)(
            train_attempt,
            train_loop_config={"cfg": cfg.to_dict(), "hub": hub, "input_dir": str(input_dir),
                               # The labelled set travels with the run: on a cluster the workers' nodes
                               # need not see the driver's --input (only checkpoints need shared storage).
                               "input_files": ray.put({n: (input_dir / n).read_bytes()
                                                       for n in run_record.INPUT_FILES}),
                               "work_dir": str(out / "_work")},
            scaling_config=ScalingConfig(**plan.scaling_config_kwargs()),
            run_config=RunConfig(name=run_name, storage_path=storage,
                                 checkpoint_config=CheckpointConfig(num_to_keep=cfg.dpo.keep_checkpoints + 1),
                                 failure_config=FailureConfig(max_failures=cfg.max_failures)),
        )
        try:
            with ProgressTail(out / "metrics.jsonl", cfg.dpo.max_steps, emit):
                result = trainer.fit()
            fatal = ray.get(hub.fatal.remote())
            if fatal is not None:   # a worker found a configuration problem: reported once, no retry
                raise ConfigError(fatal["problems"], f"{fatal['source']}, attempt {fatal['attempt']}; "
                                  "not retried: a configuration problem stays")
            if result.error is not None:
                raise result.error
        except ConfigError:
            raise
        except Exception as e:   # noqa: BLE001 - re-raised unchanged unless a worker's ConfigError is inside
            found = _config_error_in(e)
            if found is None:
                raise
            raise found from None
        summary = ray.get(hub.summary.remote())
        workers = ray.get(hub.worker_info.remote())
        with result.checkpoint.as_directory() as d:
            shutil.rmtree(out / "adapter", ignore_errors=True)
            shutil.copytree(Path(d) / "adapter", out / "adapter")
    finally:
        if started:
            shutdown()

    return _write_outputs(cfg, out, summary, workers)


def _write_outputs(cfg: TrainConfig, out: Path, summary: dict, workers: dict) -> TrainOutcome:
    steps = max((int(w.get("global_step", 0)) for w in workers.values()), default=0)
    write_prompt_record(cfg, out)
    (out / "workers.json").write_text(json.dumps(workers, indent=2) + "\n")
    (out / "alpha.json").write_text(json.dumps({"completed": True, "steps": steps, "framework": cfg.framework,
                                                **summary}, indent=2) + "\n")
    from hydra_ray.train.plots import write_training_plots

    write_training_plots(out)
    resumed = summary.get("resumed_from")
    return TrainOutcome(out, steps, summary["alpha"], resumed["step"] if resumed else None,
                        restarts=len(summary.get("restarts", [])))


def write_prompt_record(cfg: TrainConfig, out: Path) -> None:
    """adapter/hydra_prompt.json: the prompt conditioning this adapter was trained with, which serve and
    evaluate read (and refuse to contradict)."""
    conditioning = cfg.prompt_conditioning or "weights"
    if (out / "adapter").is_dir():
        (out / "adapter" / PROMPT_RECORD).write_text(json.dumps({"prompt_conditioning": conditioning}) + "\n")


def _completed(out: Path) -> dict | None:
    """alpha.json of a finished run in ``out``, else None."""
    try:
        done = json.loads((out / "alpha.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return done if done.get("completed") else None


def _final_exists(storage: str, run_name: str) -> bool:
    """Whether storage holds the final checkpoint's outcome (see _finished_outcome)."""
    import pyarrow.fs as pafs

    from hydra_ray.train.worker import OUTCOME_FILE

    fs, root = _filesystem(storage)
    return fs.get_file_info(f"{root.rstrip('/')}/{run_name}/final/{OUTCOME_FILE}").type == pafs.FileType.File


def _held_run(out: Path, storage: str, run_name: str) -> str | None:
    """What of an earlier run ``out`` holds, in words, or None when nothing a rerun would continue."""
    done = _completed(out)
    if done is not None:
        return f"a finished run ({done.get('steps', 0)} steps)"
    if _final_exists(storage, run_name):
        return f"a finished run (final checkpoint in {storage}/{run_name})"
    if has_checkpoints(storage, run_name):
        return f"checkpoints of an unfinished run ({storage}/{run_name})"
    return None


# What a run writes into OUTPUT (besides Ray storage), deleted with it by --overwrite.
OUTPUT_NAMES = ("adapter", "alpha.json", "metrics.jsonl", "workers.json", "plots", "_work", "config.yaml",
                run_record.RECORD)


def _delete_run(out: Path, storage: str, run_name: str) -> None:
    import pyarrow.fs as pafs

    fs, root = _filesystem(storage)
    run_dir = f"{root.rstrip('/')}/{run_name}"
    if fs.get_file_info(run_dir).type == pafs.FileType.Directory:
        fs.delete_dir(run_dir)
    for name in OUTPUT_NAMES:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _finished_outcome(storage: str, run_name: str, out: Path) -> dict | None:
    """The final checkpoint's outcome when training finished but the driver died before writing OUTPUT
    (it is written last, after the final report); its adapter is copied into OUTPUT."""
    import pyarrow.fs as pafs

    from hydra_ray.train.worker import OUTCOME_FILE

    if not _final_exists(storage, run_name):
        return None
    fs, root = _filesystem(storage)
    final = f"{root.rstrip('/')}/{run_name}/final"
    with fs.open_input_stream(f"{final}/{OUTCOME_FILE}") as f:
        outcome = json.loads(f.read().decode())
    shutil.rmtree(out / "adapter", ignore_errors=True)
    (out / "adapter").mkdir(parents=True)
    pafs.copy_files(f"{final}/adapter", str(out / "adapter"), source_filesystem=fs,
                    destination_filesystem=pafs.LocalFileSystem())
    return outcome
