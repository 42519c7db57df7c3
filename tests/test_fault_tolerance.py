"""Fault tolerance with real processes dying: a Ray Train worker SIGKILLed after a checkpoint, and a
Serve Verifier replica SIGKILLed under a stream of requests. No mocks: `hydra-ray train` as a
subprocess with its own 2-CPU Ray, Serve on 127.0.0.1 through the preset import path, the victim
found among this test's own process tree by the title Ray gives actor processes.

With $HYDRA_FAULT_FIGURES set to a directory, each scenario also writes its figures there as
<name>.json (benchmarks/bench_faults.py collects them into benchmarks/results/fault_tolerance.json).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from hydra_ray.config import ConfigError, load_config
from hydra_ray.train.alpha import AlphaSettings
from hydra_ray.train.config import TrainConfig
from hydra_ray.train.hub import AlphaHub
# Shared cluster-test helpers (tests/ is on sys.path under pytest's default import mode).
from test_cluster_ops import free_ports, poll, record_figures, scrape, short_temp_dir, total

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "configs" / "train" / "tiny-cpu.yaml"


def ray_actor_pids(root_pid: int, title: str) -> list[int]:
    """Processes under root_pid (a Ray started by it: raylet's children are the workers) whose process
    title, which Ray sets to ``ray::<actor class>[.<method>]``, names this actor class."""
    found = []
    for p in psutil.Process(root_pid).children(recursive=True):
        try:
            args = p.cmdline()
        except psutil.Error:
            continue
        if args and args[0].startswith(f"ray::{title}"):
            found.append(p.pid)
    return sorted(found)


# ---- configuration and the hub's restart bookkeeping (fast, no Ray) ---------------------------------

def test_max_failures_is_validated_and_defaults_to_two():
    assert load_config(TrainConfig, PRESET).max_failures == 2
    assert load_config(TrainConfig, PRESET, ["max_failures=-1"]).max_failures == -1
    for bad in ("-2", "1.5", "many"):
        with pytest.raises(ConfigError, match=r"max_failures: expected an integer >= 0 .* or -1 \(no limit\)"):
            load_config(TrainConfig, PRESET, [f"max_failures={bad}"])


def _feed(hub: AlphaHub, steps: range, losses=(0.9, 0.3)) -> None:
    for step in steps:
        for worker in (0, 1):
            hub.report(["latency", "balanced"], list(losses), [[0.1] * 5] * 2, worker=worker, step=step)
        if step % 2 == 0:
            hub.log_metrics({"step": step, "loss": 0.5})


def test_restart_from_checkpoint_records_repeated_steps_and_restores_alpha(tmp_path):
    """A worker group fails at step 7 after a checkpoint at step 4: the new group's rank 0 calls
    begin_attempt(from_checkpoint=True) then restore(state at 4). Steps 5..7 were started and are done
    again: steps_repeated = 7 - 4 = 3. α, counts and metrics rows are those of step 4."""
    path = tmp_path / "metrics.jsonl"
    hub = AlphaHub(AlphaSettings(lr=0.5, reports_per_update=2), str(path))
    assert hub.begin_attempt(False) == 1
    _feed(hub, range(1, 5))
    at_4 = hub.state_dict()
    _feed(hub, range(5, 8), losses=(0.1, 2.0))          # moves α the other way
    assert hub.get_alpha() != at_4["alpha"]
    hub.report(["memory"], [0.4], [[0.0] * 5], worker=1, step=8)   # half a step: buffered, not logged
    assert hub.begin_attempt(True) == 2
    assert hub.restarts == []                              # recorded by restore, which knows the step
    restored = hub.restore(at_4, step=4)
    assert restored == at_4["alpha"]
    (r,) = hub.restarts
    assert r == {"attempt": 2, "from_step": 4, "reached_step": 8, "steps_repeated": 4, "alpha": at_4["alpha"]}
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [2, 4]
    # The redone steps count once: counts continue from the checkpoint's.
    _feed(hub, range(5, 9))
    s = hub.summary()
    assert s["reports_by_worker"] == {"0": 8, "1": 8} and s["updates"] == 8
    assert s["attempts"] == 2 and s["resumed_from"]["step"] == 4 and len(s["restarts"]) == 1
    # The first row after the restart holds only the redone steps' losses (6: steps 5, 6; 2 workers).
    row = json.loads(path.read_text().splitlines()[2])
    assert row["step"] == 6 and row["region_count/latency"] == 4 and row["region_count/memory"] == 0


def test_restart_before_any_checkpoint_starts_alpha_over(tmp_path):
    path = tmp_path / "metrics.jsonl"
    hub = AlphaHub(AlphaSettings(lr=0.5, reports_per_update=2), str(path))
    hub.begin_attempt(False)
    _feed(hub, range(1, 4))
    assert hub.get_alpha()["latency"] > 1.0 and path.read_text()
    hub.begin_attempt(False)
    assert set(hub.get_alpha().values()) == {1.0}
    assert path.read_text() == "" and hub.summary()["reports_by_worker"] == {}
    assert hub.restarts[0]["from_step"] == 0 and hub.restarts[0]["steps_repeated"] == 3


def test_a_group_that_failed_before_its_first_report_is_a_restart_too(tmp_path):
    """Seen under load: a worker health check failed while the model loaded, before any step was
    reported; alpha.json said attempts 2 and restarts [] (the restart was invisible)."""
    hub = AlphaHub(AlphaSettings(lr=0.5, reports_per_update=2), str(tmp_path / "metrics.jsonl"))
    hub.begin_attempt(False)
    hub.begin_attempt(False)
    (r,) = hub.restarts
    assert r["attempt"] == 2 and r["from_step"] == 0 and r["reached_step"] == 0 and r["steps_repeated"] == 0
    later = AlphaHub(AlphaSettings(lr=0.5, reports_per_update=2), None)   # the same with a checkpoint
    later.begin_attempt(True)
    later.restore(hub.state_dict(), step=0)
    assert later.restarts == []                        # the first attempt of a rerun: a resume
    later.begin_attempt(True)
    later.restore(hub.state_dict(), step=0)
    assert len(later.restarts) == 1 and later.summary()["attempts"] == 2


def test_resuming_in_a_new_driver_is_not_a_restart(tmp_path):
    """A rerun of the command after the whole run died: the new hub restores but saw no failed attempt."""
    old = AlphaHub(AlphaSettings(lr=0.5, reports_per_update=2), None)
    _feed(old, range(1, 3))
    fresh = AlphaHub(AlphaSettings(lr=0.5, reports_per_update=2), None)
    fresh.begin_attempt(True)
    fresh.restore(old.state_dict(), step=2)
    assert fresh.restarts == [] and fresh.summary()["resumed_from"]["step"] == 2


# ---- a training worker dies after a checkpoint ------------------------------------------------------

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    labelled = build_sample_labelled_set(tmp_path_factory.mktemp("labelled"), samples_per_pair=2)
    return model, labelled


def _rows(out: Path) -> list[dict]:
    f = out / "metrics.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines() if x.strip()] if f.exists() else []


@pytest.mark.slow
def test_training_worker_killed_after_checkpoint_restarts_from_it(data, tmp_path):
    """SIGKILL one Ray Train worker once checkpoint 8 is stored and step 12 is logged. Ray Train
    (max_failures=2) restarts the group from the latest checkpoint by itself; the run finishes with
    every step counted once (α trajectory of 24 updates, 24 reports per worker, one metrics row per
    logged step) and α at the restart equal to the checkpoint's."""
    model, labelled = data
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "hydra_ray.cli", "train", "--input", str(labelled), "--output", str(out),
           "--config", str(PRESET), f"model.name_or_path={model}", "dpo.max_steps=24", "dpo.save_steps=8",
           "dpo.logging_steps=4", "dpo.keep_checkpoints=8", "max_failures=2"]
    log = (tmp_path / "train.log").open("w")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    storage = out / "ray" / "train"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if (storage / "checkpoint-00000008" / "hydra_alpha.json").exists() \
                    and any(r["step"] >= 12 for r in _rows(out)):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the run ended before a worker could be killed: " + \
            (tmp_path / "train.log").read_text()[-3000:]
        workers = ray_actor_pids(proc.pid, "RayTrainWorker")
        assert len(workers) == 2, f"expected the 2 Ray Train worker processes, found {workers}"
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        t_kill = time.monotonic() - t0
        # What each stored checkpoint held when the worker died (none is rotated away: keep 8).
        saved = {int(p.parent.name.split("-")[1]): json.loads(p.read_text())
                 for p in storage.glob("checkpoint-*/hydra_alpha.json")}
        logged_at_kill = max(r["step"] for r in _rows(out))
        rc = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        log.close()
    wall = time.monotonic() - t0
    text = (tmp_path / "train.log").read_text()
    assert rc == 0, text[-4000:]
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE

    alpha = json.loads((out / "alpha.json").read_text())
    restarts = alpha.get("restarts", [])
    updates = len(alpha["trajectory"]) - 1          # one α update per optimizer step (both workers' reports)
    start = restarts[0]["from_step"] if restarts else None
    figures = {"max_steps": 24, "killed_worker_pid": victim, "killed_at_s": round(t_kill, 1),
               "logged_step_at_kill": logged_at_kill, "checkpoints_at_kill": sorted(saved),
               "restarts": len(restarts), "restarted_from_step": start,
               "reached_step_before_failure": restarts[0]["reached_step"] if restarts else None,
               "steps_repeated": restarts[0]["steps_repeated"] if restarts else None,
               "steps_lost": max(0, 24 - updates), "steps_counted_twice": max(0, updates - 24),
               "alpha_at_restart_equals_checkpoint": bool(restarts) and start in saved
               and restarts[0]["alpha"] == saved[start]["alpha_state"]["alpha"],
               "wall_s": round(wall, 1)}
    record_figures("train_worker_death", figures)
    print(f"train worker death: {figures}")

    assert alpha["completed"] and alpha["steps"] == 24
    assert len(restarts) == 1, restarts
    assert "the worker group was restarted 1× after a failure" in text      # the person reading is told
    restart = restarts[0]
    assert start >= 8 and start in saved, (start, sorted(saved))
    assert restart["alpha"] == saved[start]["alpha_state"]["alpha"]          # α intact at the restart
    assert alpha["resumed_from"] == {"step": start, "alpha": restart["alpha"],
                                     "updates": len(saved[start]["alpha_state"]["updates"])}
    n = len(saved[start]["alpha_state"]["updates"])
    assert [u["alpha"] for u in alpha["history"][:n]] == [u["alpha"] for u in saved[start]["alpha_state"]["updates"]]
    assert restart["reached_step"] >= logged_at_kill >= 12
    assert restart["steps_repeated"] == restart["reached_step"] - start > 0
    # Nothing lost, nothing counted twice: one α update per optimizer step, one report per step per worker.
    assert updates == 24 and alpha["reports_by_worker"] == {"0": 24, "1": 24}
    assert alpha["examples"] == 24 * 4 * 2
    assert [r["step"] for r in _rows(out)] == [4, 8, 12, 16, 20, 24]
    info = json.loads((out / "workers.json").read_text())
    assert all(w["resumed_from_step"] == start and w["global_step"] == 24 for w in info.values())
    assert f"resumed from step {start}" in text


# ---- a Serve replica dies under load ----------------------------------------------------------------

FAST = "n = int(input())\nprint(n * (n - 1) // 2)\n"


@pytest.mark.slow
def test_verifier_replica_killed_under_load(tmp_path):
    """48 /v1/profile requests from 4 clients; the Verifier replica's process is SIGKILLed after the
    8th answer. Requests in flight on it fail fast with a 503 and a JSON message; Serve starts a
    replacement replica and every request sent after it is up succeeds. The ingress's request counter
    on the Prometheus endpoint agrees with what the clients saw."""
    import httpx
    import ray
    from ray import serve

    from hydra_ray.serve.testing import deploy, free_port, write_recorded

    recorded = write_recorded(tmp_path / "recorded.jsonl", pool=[["print(1)\n"]])
    args = {"backend": "recorded", "recorded": {"path": str(recorded)},
            "deployments": {"generation": {"num_cpus": 0.25}, "verification": {"num_cpus": 1}},
            "verification": {"profile": {"warmup": 0, "repeats": 5, "throughput_bursts": 4, "remeasure_unsteady": 0,
                                         "sandbox": {"wall_time_s": 2, "cpu_time_s": 2, "memory_mb": 512}}}}
    n_requests, clients, kill_after = 48, 4, 8
    (metrics_port,) = free_ports(1)
    temp = short_temp_dir("hrs")
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp,
             _metrics_export_port=metrics_port, _system_config={"metrics_report_interval_ms": 2000})
    try:
        url = deploy(args, free_port())
        (victim,) = ray_actor_pids(os.getpid(), "ServeReplica:hydra-ray:Verifier")
        done: list[dict] = []
        lock = threading.Lock()
        killed = threading.Event()
        t_kill: list[float] = []

        def one(k: int) -> dict:
            t = time.monotonic()
            try:
                r = httpx.post(url + "v1/profile", json={"code": FAST, "tests": [{"input": f"{k + 2}\n",
                               "expected": f"{(k + 2) * (k + 1) // 2}\n"}]}, timeout=180)
                res = {"k": k, "status": r.status_code, "body": r.text[:2000]}
            except httpx.HTTPError as e:          # a hang or a dropped connection: reported as such
                res = {"k": k, "status": None, "body": repr(e)}
            res.update(start=t, end=time.monotonic(), after_kill=killed.is_set())
            with lock:
                done.append(res)
                if len(done) == kill_after and not killed.is_set():
                    os.kill(victim, signal.SIGKILL)
                    t_kill.append(time.monotonic())
                    killed.set()
            return res

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = list(pool.map(one, range(n_requests)))
        wall = time.monotonic() - t0
        replacement = ray_actor_pids(os.getpid(), "ServeReplica:hydra-ray:Verifier")

        failed = [r for r in results if r["status"] != 200]
        later = [r for r in results if t_kill and r["start"] > t_kill[0]]
        ok_later = [r for r in later if r["status"] == 200]
        figures = {"requests": n_requests, "clients": clients, "killed_after_answers": kill_after,
                   "failed_requests": len(failed), "failed_statuses": sorted({str(r["status"]) for r in failed}),
                   "requests_after_kill": len(later), "failed_after_kill": len(later) - len(ok_later),
                   "first_success_after_kill_s": round(min(r["end"] for r in ok_later) - t_kill[0], 2)
                   if ok_later else None,
                   "wall_s": round(wall, 1), "killed_replica_pid": victim, "replacement_pids": replacement,
                   "failure_example": failed[0]["body"][:400] if failed else None}
        record_figures("serve_replica_death", figures)
        print(f"serve replica death: {figures}")

        assert killed.is_set()
        assert all(r["status"] == 503 for r in failed), [(r["status"], r["body"][:300]) for r in failed]
        for r in failed:
            err = json.loads(r["body"])["error"]
            assert err["type"] == "unavailable" and err["code"] == 503 and "verification failed" in err["message"]
        # Only requests that were already on the replica may fail: at most one per client.
        assert len(failed) <= clients, len(failed)
        assert all(r["start"] <= t_kill[0] for r in failed), "a request sent after the kill failed"
        # Requests sent after the kill waited for the replacement and succeeded on it.
        assert later and len(ok_later) == len(later)
        assert all(json.loads(r["body"])["verdict"] == "passed" for r in later)
        assert replacement and victim not in replacement

        def counted():
            s = scrape(metrics_port)
            ok = total(s, "ray_hydra_serve_requests_total", route="/v1/profile", status="200") == \
                n_requests - len(failed)
            return s if ok else None

        s = poll("the ingress's request counters", counted, timeout_s=60)
        assert total(s, "ray_hydra_serve_requests_total", route="/v1/profile", status="503") == len(failed)
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
