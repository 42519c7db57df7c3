"""Run-at-scale behaviour on real local Ray clusters (no mocks): dashboard metrics scraped over HTTP,
`ray job submit` / `ray job stop` / resubmission, autoscaling of profiler and GPU node types, and a
worker node dying mid-enrichment.

Other engineers run Ray on this machine, so every cluster here lives under its own short temp dir
and is torn down by killing exactly its own processes (never a global `ray stop`).
"""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq
import pytest

from hydra_ray import observability as obs
from hydra_ray.config import from_dict
from hydra_ray.enrich.config import EnrichConfig
from hydra_ray.enrich.pipeline import run_enrich

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "hydra_ray" / "sample_data" / "pie_sample.jsonl"
CLUSTERS = REPO / "clusters"
QUICK = {"profile": {"warmup": 0, "repeats": 4, "throughput_bursts": 4,
                     "remeasure_unsteady": 0,   # these tests are not about timing: never time a set twice
                     "sandbox": {"wall_time_s": 5, "cpu_time_s": 5}},
         "ray": {"include_dashboard": False}}
OBJECT_STORE = 200 * 1024 * 1024  # per node: the default (30 % of RAM) is far more than these runs use


# ---- helpers -------------------------------------------------------------------------------------

def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:  # all bound at once, so the n ports differ
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def short_temp_dir(prefix: str) -> str:
    # Ray's socket paths live under it and must stay below 108 characters.
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def write_input(path: Path, n: int, start: int = 0, extra: tuple[str, ...] = ()) -> Path:
    lines = SAMPLE.read_text().splitlines()[start:start + n]
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


def rows_of(out: Path) -> list[dict]:
    files = sorted((out / "data").glob("part-*.parquet"))
    return pq.read_table(files).to_pylist() if files else []


def finished_pairs(out: Path) -> set[str]:
    return {r["pair_id"] for r in rows_of(out)}


def assert_each_pair_once(rows: list[dict], n_pairs: int) -> None:
    copies = Counter((r["pair_id"], r["candidate"]) for r in rows)
    dupes = {k: v for k, v in copies.items() if v > 1}
    assert not dupes, f"measured more than once: {dupes}"
    per_pair: dict[str, list[str]] = {}
    for r in rows:
        per_pair.setdefault(r["pair_id"], []).append(r["candidate"])
    assert len(per_pair) == n_pairs, f"expected {n_pairs} pairs, found {len(per_pair)}"
    assert all(sorted(c) == ["fast", "slow"] for c in per_pair.values()), per_pair


def record_figures(name: str, figures: dict) -> None:
    """With $HYDRA_FAULT_FIGURES set to a directory, write a scenario's figures there as <name>.json
    (benchmarks/bench_faults.py runs the fault scenarios and collects them)."""
    where = os.environ.get("HYDRA_FAULT_FIGURES")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        (Path(where) / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")


def poll(what: str, fn: Callable[[], Any], timeout_s: float, every_s: float = 1.0) -> Any:
    """fn() until it returns something truthy; AssertionError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


def kill_ray_processes(temp_dir: str, gcs_port: int | None = None) -> int:
    """End the processes of one Ray cluster: those whose command line names its temp dir (or its GCS
    address, like the client server) and their descendants (workers, agents, job drivers)."""
    import psutil

    spare = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    roots = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            args = p.info["cmdline"] or []
        except psutil.Error:
            continue
        if p.pid in spare:
            continue
        if any(temp_dir in a for a in args) or (
                gcs_port and any(re.search(rf"address=\S*:{gcs_port}\b", a) for a in args)):
            roots.append(p)
    victims: dict[int, Any] = {}
    for root in roots:
        try:
            victims[root.pid] = root
            victims.update({c.pid: c for c in root.children(recursive=True)})
        except psutil.Error:
            pass
    victims = {pid: p for pid, p in victims.items() if pid not in spare}
    for p in victims.values():
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(list(victims.values()), timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    return len(victims)


class CliCluster:
    """A Ray cluster started with the `ray` CLI under its own temp dir, with its own auth token."""

    def __init__(self, prefix: str):
        self.temp_dir = short_temp_dir(prefix)
        self.gcs_port: int | None = None
        self.dashboard_port: int | None = None
        self.metrics_ports: list[int] = []
        # Ray 2.60 enables token auth for new clusters. Use the token every local ray.init() on this
        # machine uses (~/.ray/auth_token, made if missing), so this test process can connect too.
        self.env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        self.env.setdefault("RAY_AUTH_MODE", "token")
        if self.env["RAY_AUTH_MODE"] == "token":
            self.ray("get-auth-token", "--generate", timeout=60)

    def ray(self, *args: str, timeout: float = 180, check: bool = True, env: dict | None = None,
            cwd: Path = REPO) -> subprocess.CompletedProcess:
        proc = subprocess.run(["ray", *args], capture_output=True, text=True, timeout=timeout,
                              env=env or self.env, cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError(f"`ray {' '.join(args)}` exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    @property
    def gcs_address(self) -> str:
        import ray._private.services as services

        return f"{services.get_node_ip_address()}:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def start_head(self, num_cpus: int, *extra: str, env: dict | None = None) -> None:
        ports = free_ports(5)
        self.gcs_port = self.gcs_port or ports[0]  # preset when a config must name the address first
        self.dashboard_port, client, agent, metrics = ports[1:]
        self.metrics_ports.append(metrics)
        self.ray("start", "--head", f"--port={self.gcs_port}", "--dashboard-host=127.0.0.1",
                 f"--dashboard-port={self.dashboard_port}", f"--ray-client-server-port={client}",
                 f"--dashboard-agent-listen-port={agent}", f"--metrics-export-port={metrics}",
                 f"--num-cpus={num_cpus}", f"--temp-dir={self.temp_dir}", f"--object-store-memory={OBJECT_STORE}",
                 "--disable-usage-stats", *extra, env=env)

    def add_worker(self, num_cpus: int) -> None:
        agent, metrics = free_ports(2)
        self.metrics_ports.append(metrics)
        self.ray("start", f"--address={self.gcs_address}", f"--num-cpus={num_cpus}",
                 f"--dashboard-agent-listen-port={agent}", f"--metrics-export-port={metrics}",
                 f"--temp-dir={self.temp_dir}", f"--object-store-memory={OBJECT_STORE}", "--disable-usage-stats")

    def stop(self) -> None:
        kill_ray_processes(self.temp_dir, self.gcs_port)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


# ---- Prometheus scraping -------------------------------------------------------------------------

def scrape(port: int) -> dict[str, list[tuple[dict, float]]]:
    """Samples of every ray_hydra_* metric on one node's endpoint: name -> [(labels, value)]; also the
    declared TYPE of each family under the key '#type:<family>'."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return {}
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("ray_hydra_"):
            continue
        samples.setdefault(f"#type:{family.name}", []).append(({}, family.type))
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum over all series (one per Ray worker process) of `name` whose labels include `labels`."""
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


def merged(ports: list[int]) -> dict:
    out: dict[str, list] = {}
    for port in ports:
        for k, v in scrape(port).items():
            out.setdefault(k, []).extend(v)
    return out


# ---- 1. metric definitions and the Prometheus endpoint ---------------------------------------------

def test_metric_specs_match_the_dashboard_and_the_readme_table():
    readme = (CLUSTERS / "README.md").read_text()
    rows = re.findall(r"^\| `(hydra_[a-z_]+)` \| (\w+) \| ([^|]*)\|", readme, re.M)
    table = {name: (kind, tuple(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows}
    assert table, "clusters/README.md lost its metric table"
    assert {s.name: (s.kind.value, s.tag_keys) for s in obs.SPECS.values()} == table
    dash = json.loads((CLUSTERS / "grafana" / "hydra-ray.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    for expr in exprs:
        for name, suffix in re.findall(r"\bray_(hydra_[a-z_]+?)(_bucket|_sum|_count)?\b(?![a-z_])", expr):
            spec = obs.SPECS[name]
            assert bool(suffix) == (spec.kind is obs.Kind.HISTOGRAM), f"{expr}: {name} is a {spec.kind.value}"
    for spec in obs.SPECS.values():
        assert spec.name.endswith("_total") == (spec.kind is obs.Kind.COUNTER), spec.name
        assert (spec.kind is obs.Kind.HISTOGRAM) == bool(spec.boundaries), spec.name
        assert list(spec.boundaries) == sorted(set(spec.boundaries)), spec.name


def test_metric_helpers_validate_names_and_tags_without_ray():
    with pytest.raises(ValueError, match="takes tags"):
        obs.inc(obs.ENRICH_VERDICTS)                          # missing the verdict tag
    with pytest.raises(ValueError, match="not a gauge"):
        obs.set_gauge(obs.ENRICH_PAIRS, 1.0)
    with pytest.raises(KeyError, match="unknown metric"):
        obs.get("hydra_enrich_pairs")
    import ray

    if not ray.is_initialized():
        obs.inc(obs.ENRICH_VERDICTS, verdict="passed")        # outside Ray: recorded nowhere, no error
        assert obs.ENRICH_VERDICTS not in obs._made


def test_enrichment_metrics_reach_the_prometheus_endpoint(tmp_path):
    """A real Ray with a known metrics port, a real enrichment, and an HTTP scrape of the node's
    Prometheus endpoint: every enrichment metric appears with the values the output files imply."""
    import ray

    good = SAMPLE.read_text().splitlines()[:2]
    inp = write_input(tmp_path / "in.jsonl", 2, extra=("{not json", good[0]))  # + invalid_json, duplicate_id
    out = tmp_path / "out"
    (port,) = free_ports(1)
    temp = short_temp_dir("hrm")
    # A 2 s report interval (default 10 s) keeps this test short; the export path is the same.
    ray.init(num_cpus=2, include_dashboard=False, _metrics_export_port=port, _temp_dir=temp,
             _system_config={"metrics_report_interval_ms": 2000})
    try:
        summary = run_enrich(inp, out, from_dict(EnrichConfig, QUICK), emit=lambda s: None)
        rows = rows_of(out)
        verdicts = Counter(r["verdict"] for r in rows)
        spreads = [r["latency_ms_spread"] / r["latency_ms"] for r in rows if r["verdict"] == "passed"]
        assert summary["sets_total"] == 2 and spreads
        spread = "ray_hydra_enrich_measurement_rel_spread"

        def complete():
            s = scrape(port)
            ok = (total(s, "ray_hydra_enrich_pairs_total") == 2
                  and total(s, f"{spread}_count") == len(spreads)
                  and total(s, "ray_hydra_enrich_rejected_total") == 2
                  and total(s, "ray_hydra_enrich_verdicts_total") == len(rows))
            return s if ok else None

        s = poll("all enrichment metrics on the endpoint", complete, timeout_s=60, every_s=1)
        assert s["#type:ray_hydra_enrich_pairs"][0][1] == "counter"
        assert s[f"#type:{spread}"][0][1] == "histogram"
        for verdict, n in verdicts.items():
            assert total(s, "ray_hydra_enrich_verdicts_total", verdict=verdict) == n, verdict
        assert total(s, "ray_hydra_enrich_rejected_total", reason="invalid_json") == 1
        assert total(s, "ray_hydra_enrich_rejected_total", reason="duplicate_id") == 1
        assert all(0 <= x < 2 for x in spreads), f"implausible latency IQR/median: {spreads}"
        # Cumulative bucket counts are exact: recompute them from the output files.
        bounds = [*obs.SPECS[obs.ENRICH_REL_SPREAD].boundaries, math.inf]
        scraped = {float(lab["le"]): 0.0 for lab, _ in s[f"{spread}_bucket"]}
        for lab, v in s[f"{spread}_bucket"]:
            scraped[float(lab["le"])] += v
        assert scraped == {b: float(sum(x <= b for x in spreads)) for b in bounds}
        # Ray 2.60 reports a histogram's sum from bucket midpoints, so only bounds hold for it.
        lo = sum(max([0.0, *(b for b in bounds if b < x)]) for x in spreads)
        hi = sum(min(b for b in bounds if b >= x) for x in spreads)
        assert lo <= total(s, f"{spread}_sum") <= hi
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_training_metrics_reach_the_prometheus_endpoint(tmp_path):
    """A tiny `run_training` (2 Ray Train workers, the α hub actor) on a Ray with a known metrics port,
    scraped every second while it runs: hydra_train_loss, hydra_train_alpha{region},
    hydra_train_region_loss{region} and hydra_train_step_seconds appear, and their values are ones the
    run itself wrote (metrics.jsonl rows, alpha.json trajectory), the step times plausible."""
    import ray

    from hydra_ray.config import load_config
    from hydra_ray.prefs.dirichlet import REGIONS
    from hydra_ray.train.config import TrainConfig
    from hydra_ray.train.driver import run_training
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "model")
    labelled = build_sample_labelled_set(tmp_path / "labelled", samples_per_pair=2)
    steps = 12
    cfg = load_config(TrainConfig, REPO / "configs" / "train" / "tiny-cpu.yaml",
                      [f"model.name_or_path={model}", f"dpo.max_steps={steps}", "dpo.save_steps=12",
                       "dpo.logging_steps=2"])
    (port,) = free_ports(1)
    temp = short_temp_dir("hrt")
    ray.init(num_cpus=2, include_dashboard=False, _metrics_export_port=port, _temp_dir=temp,
             _system_config={"metrics_report_interval_ms": 2000},
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                                       "TOKENIZERS_PARALLELISM": "false"}})
    snapshots: list[dict] = []
    stop = threading.Event()

    def watch():
        # The hub actor exports while it lives (it ends with run_training), so scrape during the run.
        while not stop.is_set():
            s = scrape(port)
            if any(k.startswith("ray_hydra_train_") for k in s):
                snapshots.append(s)
            stop.wait(1.0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        outcome = run_training(cfg, labelled, tmp_path / "out")
    finally:
        stop.set()
        watcher.join(timeout=30)
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    assert outcome.steps == steps
    names = ("ray_hydra_train_loss", "ray_hydra_train_alpha", "ray_hydra_train_region_loss",
             "ray_hydra_train_step_seconds_count")
    full = [s for s in snapshots if all(s.get(n) for n in names)]
    assert full, f"never saw all four training metrics in {len(snapshots)} scrapes: " \
                 f"{sorted({k for s in snapshots for k in s if not k.startswith('#')})}"
    s = full[-1]
    assert s["#type:ray_hydra_train_alpha"][0][1] == "gauge"
    assert s["#type:ray_hydra_train_step_seconds"][0][1] == "histogram"
    rows = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    alpha = json.loads((tmp_path / "out" / "alpha.json").read_text())
    (loss,) = [v for _, v in s["ray_hydra_train_loss"]]
    assert any(loss == pytest.approx(r["loss"]) for r in rows), (loss, [r["loss"] for r in rows])
    scraped_alpha = {lab["region"]: v for lab, v in s["ray_hydra_train_alpha"]}
    assert set(scraped_alpha) == set(REGIONS)
    for region, a in scraped_alpha.items():
        assert cfg.alpha.alpha_min <= a <= cfg.alpha.alpha_max
        assert any(a == pytest.approx(t["alpha"][region]) for t in alpha["trajectory"]), (region, a)
    # α must have been seen to move (lr 0.5 on the tiny preset), not only its initial value.
    assert any(abs(v - cfg.alpha.initial) > 1e-6 for x in full for _, v in x["ray_hydra_train_alpha"])
    for lab, v in s["ray_hydra_train_region_loss"]:
        assert lab["region"] in REGIONS and 0 < v < 10
        assert any(r[f"region_loss/{lab['region']}"] == pytest.approx(v) for r in rows), (lab, v)
    n = total(s, "ray_hydra_train_step_seconds_count")
    mean = total(s, "ray_hydra_train_step_seconds_sum") / n
    assert 1 <= n <= steps - 1, n            # one per pair of consecutive steps of rank 0
    # Workers' own median step time (workers.json) bounds what the hub saw, within Ray's bucket midpoints.
    median = json.loads((tmp_path / "out" / "workers.json").read_text())["0"]["step_time_median_s"]
    assert 0.01 < mean < 60 and median / 10 < mean < median * 10, (mean, median)
    print(f"training metrics: {len(snapshots)} scrapes, loss {loss:.3f}, step seconds {n:.0f} × {mean:.2f} s, "
          f"α {scraped_alpha}")


# ---- 2. ray job submit / stop / resubmit -----------------------------------------------------------

@pytest.fixture(scope="module")
def job_cluster():
    cluster = CliCluster("hrj")
    try:
        cluster.start_head(1)
        cluster.add_worker(1)
        yield cluster
    finally:
        cluster.stop()


def enrich_entrypoint(inp: Path, out: Path, *overrides: str) -> list[str]:
    # First print where hydra_ray comes from: the uploaded working dir, not this checkout.
    where = shlex.join([sys.executable, "-c", "import hydra_ray; print('hydra_ray imported from', hydra_ray.__file__)"])
    enrich = shlex.join([sys.executable, "-m", "hydra_ray.cli", "enrich", "--input", str(inp), "--output", str(out),
                         "--config", "configs/enrich/quick.yaml", *overrides])
    return ["sh", "-c", f"{where} && {enrich}"]  # `ray job submit` shell-quotes each word after --


def submit(cluster: CliCluster, job_id: str, entrypoint: list[str], wait: bool, timeout: float = 400):
    args = ["job", "submit", "--address", cluster.dashboard_url, "--submission-id", job_id,
            "--working-dir", str(REPO), *([] if wait else ["--no-wait"]), "--", *entrypoint]
    return cluster.ray(*args, timeout=timeout, check=False)


def job_status(cluster: CliCluster, job_id: str) -> str:
    proc = cluster.ray("job", "status", "--address", cluster.dashboard_url, job_id, check=False, timeout=60)
    m = re.search(r"Job '[^']+' (succeeded|failed|was stopped|is currently (?:running|pending))",
                  proc.stdout + proc.stderr)
    return m.group(1) if m else f"unknown: {proc.stdout[-300:]} {proc.stderr[-300:]}"


def job_logs(cluster: CliCluster, job_id: str) -> str:
    return cluster.ray("job", "logs", "--address", cluster.dashboard_url, job_id, timeout=60).stdout


@pytest.mark.slow
def test_ray_job_submit_runs_enrich_and_logs_progress(job_cluster, tmp_path):
    inp, out = write_input(tmp_path / "in.jsonl", 3), tmp_path / "out"
    t0 = time.monotonic()
    proc = submit(job_cluster, "hr-enrich-full", enrich_entrypoint(inp, out), wait=True)
    assert proc.returncode == 0 and "succeeded" in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = job_logs(job_cluster, "hr-enrich-full")
    imported = re.search(r"hydra_ray imported from (\S+)", logs)
    assert imported and imported.group(1).startswith(job_cluster.temp_dir), (
        f"the job should import the uploaded working dir under {job_cluster.temp_dir}: {logs[:500]}")
    for line in ("[enrich] 3 valid program sets", "[enrich] placement:", "[enrich] 3/3 sets", "[enrich] done: 3 sets"):
        assert line in logs, f"{line!r} missing from `ray job logs`:\n{logs[-3000:]}"
    rows = rows_of(out)
    assert_each_pair_once(rows, 3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sets_measured_this_run"] == 3 and summary["nodes_left_this_run"] == []
    t_job = time.monotonic() - t0
    # The job's driver ran on the head, so its counters are on the head's metrics endpoint.
    pairs = lambda: total(merged(job_cluster.metrics_ports), "ray_hydra_enrich_pairs_total")  # noqa: E731
    poll("the job's pairs counter on the cluster's metrics endpoints", lambda: pairs() == 3, timeout_s=30)
    print(f"job submit: 3 sets in {t_job:.0f} s on nodes {summary['nodes']}")


@pytest.mark.slow
def test_ray_job_submit_runs_enrich_label_and_a_tiny_train(job_cluster, tmp_path):
    """The pipeline as three jobs on the 2-node cluster: enrich → label → train (tiny model)."""
    inp, enriched = write_input(tmp_path / "in.jsonl", 6), tmp_path / "enriched"
    labelled, model, trained = tmp_path / "labelled", tmp_path / "model", tmp_path / "train"
    cli = [sys.executable, "-m", "hydra_ray.cli"]
    jobs = {
        "hr-pipe-enrich": cli + ["enrich", "--input", str(inp), "--output", str(enriched),
                                 "--config", "configs/enrich/quick.yaml"],
        "hr-pipe-label": cli + ["label", "--input", str(enriched), "--output", str(labelled), "samples_per_pair=4"],
        "hr-pipe-train": ["sh", "-c", shlex.join(cli + ["make-tiny-model", "--output", str(model)]) + " && "
                          + shlex.join(cli + ["train", "--input", str(labelled), "--output", str(trained),
                                              "--config", "configs/train/tiny-cpu.yaml",
                                              f"model.name_or_path={model}", "dpo.max_steps=4",
                                              "dpo.save_steps=4", "scaling.num_workers=1"])],
    }
    for job_id, entrypoint in jobs.items():
        proc = submit(job_cluster, job_id, entrypoint, wait=True, timeout=600)
        assert proc.returncode == 0 and "succeeded" in proc.stdout + proc.stderr, (
            job_id, proc.stdout[-3000:] + proc.stderr[-3000:])
    assert_each_pair_once(rows_of(enriched), 6)
    assert (labelled / "labels.parquet").exists() and (labelled / "labeler.json").exists()
    assert (trained / "adapter" / "adapter_config.json").exists()
    alpha = json.loads((trained / "alpha.json").read_text())
    assert alpha["steps"] == 4
    assert "trained 4 steps" in job_logs(job_cluster, "hr-pipe-train")


@pytest.mark.slow
def test_ray_job_stop_mid_run_then_resubmission_resumes(job_cluster, tmp_path):
    inp, out = write_input(tmp_path / "in.jsonl", 6, start=12), tmp_path / "out"
    # One set a file, so a stop lands between files (the default rolls 1,000 sets or a minute a file).
    proc = submit(job_cluster, "hr-enrich-stopped", enrich_entrypoint(inp, out, "output.sets_per_file=1"), wait=False,
                  timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    poll("a first finished set", lambda: list((out / "data").glob("part-*.parquet")), timeout_s=300, every_s=0.5)
    job_cluster.ray("job", "stop", "--address", job_cluster.dashboard_url, "hr-enrich-stopped", timeout=120)
    poll("the job to stop", lambda: job_status(job_cluster, "hr-enrich-stopped") == "was stopped", 60)
    first = finished_pairs(out)
    time.sleep(5)  # a stopped job's actors are gone: nothing more may arrive
    assert finished_pairs(out) == first
    assert 1 <= len(first) < 6, f"stop should land mid-run; {len(first)} of 6 sets were finished"

    proc = submit(job_cluster, "hr-enrich-resumed", enrich_entrypoint(inp, out), wait=True)
    assert proc.returncode == 0 and "succeeded" in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = job_logs(job_cluster, "hr-enrich-resumed")
    assert f"{len(first)} already measured, {6 - len(first)} to measure" in logs, logs[-3000:]
    assert f"[enrich] {6 - len(first)}/{6 - len(first)} sets ({len(first)} done before)" in logs, logs[-3000:]
    assert_each_pair_once(rows_of(out), 6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sets_measured_this_run"] == 6 - len(first) and summary["sets_total"] == 6


# ---- 3. autoscaling ------------------------------------------------------------------------------

# The gpu-shaped node type also advertises this custom resource, and the tiny training job asks for it
# (scaling.resources_per_worker): a CPU build of torch cannot train with use_gpu on a fake GPU (Ray
# Train would set up NCCL), so the job reaches that node type the way a preset pins any node type.
GPU_NODE_RESOURCE = "gpu_node"


def fake_autoscaling_config(gcs_address: str, idle_timeout_minutes: float) -> dict:
    """What ray.cluster_utils.AutoscalingCluster generates (its fake_multi_node/example.yaml base is
    not in the 2.60 wheel), plus the GCS address so the fake nodes join this head, not :6379."""
    mem = {"object_store_memory": OBJECT_STORE}
    return {
        "cluster_name": "hydra-ray-fake", "max_workers": 3,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                     "disable_launch_config_check": True, "gcs_address": gcs_address},
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
            # Shaped like clusters/: a profiler slot per core; a GPU node (fake GPU) for training.
            "profiler": {"resources": {"CPU": 1, "profiler": 1, **mem}, "node_config": {},
                         "min_workers": 0, "max_workers": 2},
            "gpu": {"resources": {"CPU": 1, "GPU": 1, GPU_NODE_RESOURCE: 1, **mem}, "node_config": {},
                    "min_workers": 0, "max_workers": 1},
        },
        "head_node_type": "ray.head.default", "upscaling_speed": 1.0,
        "idle_timeout_minutes": idle_timeout_minutes,
        "auth": {}, "docker": {}, "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [],
    }


class NodeWatcher(threading.Thread):
    """Samples the alive nodes every second: the most nodes of each shape seen at once."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak: Counter[str] = Counter()
        self.stop_flag = threading.Event()

    @staticmethod
    def shapes() -> Counter[str]:
        import ray

        now: Counter[str] = Counter()
        for n in ray.nodes():
            if n["Alive"]:
                res = n["Resources"]
                now["profiler" if res.get("profiler") else "gpu" if res.get("GPU") else "head"] += 1
        return now

    def run(self) -> None:
        while not self.stop_flag.is_set():
            for shape, k in self.shapes().items():
                self.peak[shape] = max(self.peak[shape], k)
            self.stop_flag.wait(1.0)


def autoscaling_driver(inp: Path, out: Path) -> dict:
    """The driver side of the autoscaling test, run as its own process connected through
    $RAY_ADDRESS (as under `ray job submit`): an enrichment that requires profiler slots, labelling
    on the driver, a tiny `hydra-ray train` job whose worker requires the gpu-shaped node, then
    waiting for the idle nodes to go. Returns what happened; the test judges it."""
    import ray

    from hydra_ray.prefs.config import LabelConfig
    from hydra_ray.prefs.run import label_directory
    from hydra_ray.train.tiny_model import build_tiny_model

    ray.init()
    result: dict[str, Any] = {"at_start": dict(NodeWatcher.shapes())}
    watcher = NodeWatcher()
    watcher.start()
    enriched, labelled, trained = out / "enriched", out / "labelled", out / "train"
    cfg = from_dict(EnrichConfig, {**QUICK, "placement": {"mode": "require", "num_actors": 2}})
    t0 = time.monotonic()
    result["summary"] = run_enrich(inp, enriched, cfg, emit=print)
    result["t_enrich_s"] = time.monotonic() - t0
    result["profiler_nodes"] = [n["NodeID"] for n in ray.nodes() if n["Resources"].get("profiler")]

    label_directory(enriched, labelled, from_dict(LabelConfig, {"samples_per_pair": 4}))
    model = build_tiny_model(out / "tiny-model")
    t0 = time.monotonic()
    train = subprocess.run(
        [sys.executable, "-m", "hydra_ray.cli", "train", "--input", str(labelled), "--output", str(trained),
         "--config", str(REPO / "configs/train/tiny-cpu.yaml"), f"model.name_or_path={model}",
         "dpo.max_steps=2", "dpo.save_steps=2", "dpo.logging_steps=1", "scaling.num_workers=1",
         f"scaling.resources_per_worker={{{GPU_NODE_RESOURCE}: 1}}"],
        capture_output=True, text=True, timeout=480, cwd=REPO)   # inherits $RAY_ADDRESS: joins this cluster
    result["t_train_s"] = time.monotonic() - t0
    result["train"] = {"rc": train.returncode, "stdout": train.stdout[-3000:], "stderr": train.stderr[-3000:],
                       "log": [line for line in train.stdout.splitlines() if line.startswith("[train]")]}
    result["gpu_nodes"] = [n["NodeID"] for n in ray.nodes() if n["Resources"].get("GPU")]
    t0 = time.monotonic()
    deadline = t0 + 240
    while time.monotonic() < deadline and NodeWatcher.shapes() != Counter(head=1):
        time.sleep(2)
    result["t_scale_down_s"] = time.monotonic() - t0
    result["at_end"] = dict(NodeWatcher.shapes())
    watcher.stop_flag.set()
    result["peak"] = dict(watcher.peak)
    ray.shutdown()
    return result


@pytest.mark.slow
def test_autoscaler_adds_profiler_and_gpu_nodes_and_removes_them_when_idle(tmp_path):
    cluster = CliCluster("hra")
    cluster.gcs_port = free_ports(1)[0]
    config = tmp_path / "autoscaling.json"
    config.write_text(json.dumps(fake_autoscaling_config(cluster.gcs_address, idle_timeout_minutes=0.2)))
    # As AutoscalingCluster.start() does, minus its global `ray stop --force`.
    env = {**cluster.env, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    inp, out = write_input(tmp_path / "in.jsonl", 6, start=2), tmp_path / "out"
    try:
        cluster.start_head(0, f"--autoscaling-config={config}", env=env)
        driver = subprocess.run([sys.executable, __file__, "autoscaling-driver", str(inp), str(out)],
                                capture_output=True, text=True, timeout=900, cwd=REPO,
                                env={**cluster.env, "RAY_ADDRESS": cluster.gcs_address})
    finally:
        cluster.stop()
    marker = [line for line in driver.stdout.splitlines() if line.startswith("RESULT ")]
    assert driver.returncode == 0 and marker, f"driver failed:\n{driver.stdout[-3000:]}\n{driver.stderr[-3000:]}"
    res = json.loads(marker[-1][len("RESULT "):])
    assert res["at_start"] == {"head": 1}, "an autoscaling cluster starts with the head only"
    # Enrichment: two profiler nodes appear and take every measurement.
    rows = rows_of(out / "enriched")
    assert_each_pair_once(rows, 6)
    assert {r["node_id"] for r in rows} <= set(res["profiler_nodes"]), "measurements ran off the profiler nodes"
    assert "holding 1 'profiler' slot" in res["summary"]["placement"]
    assert res["peak"].get("profiler") == 2, f"expected 2 profiler nodes at once: {res['peak']}"
    # Training: the job's worker needs the gpu-shaped node; the autoscaler adds it and the job trains there.
    train = res["train"]
    assert train["rc"] == 0, f"train job failed:\n{train['stdout']}\n{train['stderr']}"
    assert "trained 2 steps" in train["stdout"]
    assert any(f"needs 1 {GPU_NODE_RESOURCE}, 0 in the cluster now: waits for the autoscaler" in line
               for line in train["log"]), train["log"]
    workers = json.loads((out / "train" / "workers.json").read_text())
    assert [w["node_id"] for w in workers.values()] and all(w["node_id"] in res["gpu_nodes"] for w in workers.values())
    assert (out / "train" / "adapter" / "adapter_config.json").exists()
    assert res["peak"].get("gpu") == 1, res["peak"]
    assert res["at_end"] == {"head": 1}, f"idle nodes not removed within 240 s: {res['at_end']}"
    print(f"autoscaling: 6 sets on 2 new profiler nodes {res['t_enrich_s']:.0f} s; tiny train job on a new "
          f"gpu node {res['t_train_s']:.0f} s; back to the head alone {res['t_scale_down_s']:.0f} s later")


# ---- 4. a worker node dies mid-enrichment ----------------------------------------------------------

@pytest.mark.slow
def test_worker_node_death_mid_enrichment_loses_and_duplicates_nothing(tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    temp = short_temp_dir("hrf")
    # Head: 2 CPUs (one profiling actor + room for the actor Ray restarts); worker: 1 CPU, 1 actor.
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 2, "include_dashboard": False, "temp_dir": temp,
                                      "object_store_memory": OBJECT_STORE})
    try:
        worker = cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        inp, out = write_input(tmp_path / "in.jsonl", 8, start=20), tmp_path / "out"
        cfg = from_dict(EnrichConfig, {**QUICK, "placement": {"num_actors": 2}, "output": {"sets_per_file": 1}})
        result: dict[str, Any] = {}
        lines: list[str] = []

        def enrich():
            try:
                result["summary"] = run_enrich(inp, out, cfg, emit=lines.append)
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                result["error"] = e

        thread = threading.Thread(target=enrich, daemon=True)
        t0 = time.monotonic()
        thread.start()

        def worker_has_measured():
            return worker.node_id in {r["node_id"] for r in rows_of(out)}

        poll("a set measured on the worker node", worker_has_measured, timeout_s=300)
        cluster.remove_node(worker, allow_graceful=False)  # SIGKILL: the node just dies
        t_kill = time.monotonic() - t0
        at_kill = finished_pairs(out)
        assert len(at_kill) < 8, "the run finished before the node died; use more sets"
        thread.join(timeout=480)
        assert not thread.is_alive(), "enrichment did not finish after the node died"
        assert "error" not in result, result.get("error")
        summary = result["summary"]
        rows = rows_of(out)
        copies = Counter((r["pair_id"], r["candidate"]) for r in rows)
        complete = {p for p in {r["pair_id"] for r in rows} if {c for (q, c) in copies if q == p} == {"fast", "slow"}}
        record_figures("enrich_node_death", {
            "pairs": 8, "pairs_done_at_kill": len(at_kill), "killed_at_s": round(t_kill, 1),
            "pairs_lost": 8 - len(complete), "rows_duplicated": sum(v - 1 for v in copies.values()),
            "nodes_left": summary["nodes_left_this_run"], "wall_s": round(time.monotonic() - t0, 1)})
        assert_each_pair_once(rows, 8)
        assert summary["sets_measured_this_run"] == 8 and summary["sets_total"] == 8
        left = {n["node_id"]: n["reason"] for n in summary["nodes_left_this_run"]}
        assert set(left) == {worker.node_id}, summary["nodes_left_this_run"]
        assert any("left the cluster during this run" in line for line in lines), lines[-5:]
        head = cluster.head_node.node_id
        assert any(r["node_id"] == head for r in rows if r["pair_id"] not in at_kill), \
            "the head should have measured the sets left when the worker died"
        print(f"node death: killed at {t_kill:.0f} s with {len(at_kill)}/8 sets done; finished at "
              f"{time.monotonic() - t0:.0f} s; reason {left[worker.node_id]!r}")
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__" and sys.argv[1:2] == ["autoscaling-driver"]:
    print("RESULT " + json.dumps(autoscaling_driver(Path(sys.argv[2]), Path(sys.argv[3]))))
