"""The commands as a user runs them: from their own directory, with relative paths, reading what is
printed, and stopping them with Ctrl-C or SIGTERM (what systemd, Kubernetes and `timeout` send).

Every command runs as a subprocess of the real CLI with its working directory set to a temporary
"project" folder that is not the repository, so a relative path that leaks to a Ray worker (whose
working directory is elsewhere) fails here as it would for the user.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "hydra_ray" / "sample_data" / "pie_sample.jsonl"


def hydra(*args: str, cwd: Path, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", "hydra_ray.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, **kw)


def start(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, "-m", "hydra_ray.cli", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_as_in_a_terminal)


def _as_in_a_terminal() -> None:
    """Ctrl-C as a person at a terminal has it: a suite started in the background (``make test &``, a
    non-interactive shell) ignores SIGINT, the command would inherit that, and Python then installs
    no KeyboardInterrupt handler, so the test would check the shell's job control, not ours."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_until(proc: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    """Lines the process printed up to (and including) the first that matches the regex ``marker``."""
    import re

    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.rstrip("\n"))
        if re.search(marker, line):
            return lines
    proc.kill()
    raise AssertionError(f"no {marker!r} within {timeout} s; printed:\n" + "\n".join(lines))


def session_of(lines: list[str]) -> str:
    line = next(ln for ln in lines if ln.startswith("[ray] ") and "logs: " in ln)
    return Path(line.split("logs: ")[1].strip()).parent.name


def session_processes(session: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(session in part for part in (p.info["cmdline"] or [])):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def alive(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {p.name()}")
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.fixture
def project(tmp_path):
    """A user's folder: the presets copied in (as in a clone), the data file beside them."""
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    shutil.copy(SAMPLE, tmp_path / "pairs.jsonl")
    return tmp_path


def test_train_with_relative_paths_and_the_presets_relative_model(project):
    """The preset names `runs/tiny-model` (relative); input, output and config are relative too."""
    from hydra_ray.train.sample_data import build_sample_labelled_set

    build_sample_labelled_set(project / "runs" / "labelled", samples_per_pair=1, limit=6)
    r = hydra("make-tiny-model", "--output", "runs/tiny-model", cwd=project, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    r = hydra("train", "--input", "runs/labelled", "--output", "runs/train", "--config",
              "configs/train/tiny-cpu.yaml", "dpo.max_steps=2", "dpo.save_steps=2", "dpo.logging_steps=1",
              cwd=project, timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert (project / "runs" / "train" / "adapter" / "adapter_config.json").is_file()
    saved = (project / "runs" / "train" / "config.yaml").read_text()
    assert f"name_or_path: {project / 'runs' / 'tiny-model'}" in saved   # resolved once, at the entry point
    assert "INFO" not in r.stdout + r.stderr and "(RayTrainWorker" not in r.stdout + r.stderr


def test_missing_relative_model_says_how_to_build_it(project):
    from hydra_ray.train.sample_data import build_sample_labelled_set

    build_sample_labelled_set(project / "runs" / "labelled", samples_per_pair=1, limit=2)
    r = hydra("train", "--input", "runs/labelled", "--output", "runs/train", "--config",
              "configs/train/tiny-cpu.yaml", cwd=project, timeout=120)
    assert r.returncode == 2
    assert "model.name_or_path=runs/tiny-model: neither a directory here" in r.stderr, r.stderr
    assert "hydra-ray make-tiny-model --output runs/tiny-model" in r.stderr
    assert "hf download runs/tiny-model" in r.stderr           # the other reading, a hub id, named too
    r = hydra("train", "--input", "runs/labelled", "--output", "runs/train", "--config",
              "configs/train/tiny-cpu.yaml", "model.name_or_path=./models/mine", cwd=project, timeout=120)
    assert r.returncode == 2 and f"{project}/models/mine: no such directory" in r.stderr, r.stderr


def test_an_input_error_found_on_the_workers_fails_once_without_retries(project):
    """labels.parquet whose data pages are corrupt but whose footer is whole (a damaged copy): the
    driver's check, which reads the footer (schema, rows), passes; the Ray Train workers, which read the
    data, find it. Retries cannot fix a bad file, so the command stops at the first attempt, saying so once."""
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    build_sample_labelled_set(project / "runs" / "labelled", samples_per_pair=1, limit=2)
    labels = project / "runs" / "labelled" / "labels.parquet"
    data = bytearray(labels.read_bytes())
    footer_starts = len(data) - 8 - int.from_bytes(data[-8:-4], "little")   # ... footer, its length, PAR1
    data[4:footer_starts] = bytes(footer_starts - 4)
    labels.write_bytes(bytes(data))
    build_tiny_model(project / "runs" / "tiny-model")
    t0 = time.monotonic()
    r = hydra("train", "--input", "runs/labelled", "--output", "runs/train", "--config",
              "configs/train/tiny-cpu.yaml", "max_failures=2", cwd=project, timeout=600)
    took = time.monotonic() - t0
    text = r.stdout + r.stderr
    assert r.returncode == 2, text[-3000:]
    assert text.count("labels.parquet cannot be read") == 1, text
    assert "hydra-ray label --input ENRICHED_DIR --output" in text
    assert "RETRY" not in text and "Traceback" not in text, text
    assert "attempt 1; not retried" in text, text      # max_failures=2 would have allowed 2 more
    print(f"reported after {took:.0f} s")


def test_enrich_stopped_with_ctrl_c_leaves_nothing_running_and_resumes(project):
    # Six pairs as the input itself, not `limit=6`: with parallel validation, which records fall
    # within a limit depends on block order, so a resumed `limit=` run may pick other sets (#15 note).
    six = [ln for ln in SAMPLE.read_text().splitlines() if ln.strip()][:6]
    (project / "pairs.jsonl").write_text("\n".join(six) + "\n")
    proc = start("enrich", "--input", "pairs.jsonl", "--output", "runs/enrich", "--config",
                 "configs/enrich/quick.yaml", cwd=project)
    lines = read_until(proc, r"^\[enrich\] [1-5]/6 sets", timeout=300)   # some sets done, not all
    session = session_of(lines)
    procs = session_processes(session)
    assert len(procs) >= 3, "the check must see the session's processes while it runs"
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, rest
    assert "interrupted; finished work is kept" in rest
    assert not alive(procs) and not session_processes(session), alive(procs)
    kept = list((project / "runs" / "enrich" / "data").glob("part-*.parquet"))
    assert kept, "the sets measured before Ctrl-C are on disk"

    r = hydra("enrich", "--input", "pairs.jsonl", "--output", "runs/enrich", "--config",
              "configs/enrich/quick.yaml", cwd=project, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    already = int(r.stdout.split(" already measured")[0].rsplit("; ", 1)[1])
    assert already >= 1, r.stdout
    assert json.loads((project / "runs" / "enrich" / "summary.json").read_text())["sets_total"] == 6


def test_serve_stopped_with_sigterm_leaves_no_ray_process(project):
    """`hydra-ray serve` in the background, stopped the way systemd or Kubernetes stop it. The
    recorded completions are named by a relative path, which the replicas (elsewhere) must find."""
    shutil.copy(REPO / "hydra_ray" / "serve" / "demo_completions.jsonl", project / "recorded.jsonl")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start("serve", "--config", "configs/serve/recorded-demo.yaml", "--port", str(port),
                 "recorded.path=recorded.jsonl", cwd=project)
    try:
        lines = read_until(proc, "ready at", timeout=400)
        session = session_of(lines)
        procs = session_processes(session)
        names = " ".join(p.name() for p in procs)
        assert len(procs) >= 3, names
        shutil.copy(REPO / "hydra_ray" / "evaluate" / "suites" / "patterns" / "fib_no_memo" / "original.py",
                    project / "fib.py")
        (project / "fib.in").write_text("2\n25\n31\n")
        r = hydra("optimize", "fib.py", "--input", "fib.in", "--preset", "runtime", "--url",
                  f"http://127.0.0.1:{port}/", cwd=project, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "best" in r.stdout
        # The same request over HTTP: every recorded candidate verified, the faster one is best.
        import httpx

        original = (project / "fib.py").read_text()
        better = (REPO / "hydra_ray" / "evaluate" / "suites" / "patterns" / "fib_no_memo" / "better.py").read_text()
        body = httpx.post(f"http://127.0.0.1:{port}/v1/optimize", timeout=300,
                          json={"code": original, "inputs": ["2\n25\n31\n"], "preset": "runtime"}).json()
        assert body["best"]["improved"] and body["best"]["code"].strip() == better.strip(), body["best"]
        assert sorted(c["verdict"] for c in body["candidates"]) == ["passed", "unchanged", "wrong_answer"]
    finally:
        proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, rest
    assert "stopped" in rest
    assert "(raylet)" not in rest and "graceful_shutdown" not in rest, rest   # Ray's lines stay in its logs
    deadline = time.monotonic() + 10
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(procs), f"left running after SIGTERM: {alive(procs)}"
    assert not session_processes(session)


@pytest.mark.slow
def test_label_and_evaluate_with_relative_paths(project):
    """`label` and `evaluate` from the user's folder: relative input, output and suite file."""
    import pandas as pd

    from hydra_ray.train.sample_data import build_sample_labelled_set  # noqa: F401 - same fixtures as train

    suite = project / "suite.jsonl"
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    suite.write_text(json.dumps(first) + "\n")
    r = hydra("evaluate", "--suite", "suite.jsonl", "--optimizer", "reference", "--output", "runs/eval",
              "measure.repeats=4", "stats.n_boot=100", cwd=project, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (project / "runs" / "eval" / "table.md").is_file()
    saved = (project / "runs" / "eval" / "config.yaml").read_text()
    assert f"suite: {project / 'suite.jsonl'}" in saved and f"output: {project / 'runs' / 'eval'}" in saved
    assert len(pd.read_parquet(project / "runs" / "eval" / "results.parquet")) >= 1


def test_evaluate_stopped_with_sigterm_keeps_finished_tasks_and_resumes(project):
    """A stopped `evaluate` says finished work is kept: each measured task's rows are on disk at once
    (partial_rows.jsonl), the same command resumes with them and measures only the rest, and the report
    then holds every task, the kept ones exactly as they were measured."""
    import pandas as pd

    names = ["bubble_sort", "fib_no_memo", "string_concat", "list_membership", "pop_front", "tuple_concat"]
    cmd = ("evaluate", "--suite", "patterns", "--optimizer", "reference", "--output", "runs/eval",
           f"patterns.names=[{','.join(names)}]", "patterns.sizes=[small]", "stats.n_boot=100")
    proc = start(*cmd, cwd=project)
    read_until(proc, r"^\[2/6\]", timeout=300)        # two tasks measured, the third under way
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, rest
    assert "terminated (SIGTERM); finished work is kept and a rerun resumes" in rest
    partial = project / "runs" / "eval" / "partial_rows.jsonl"
    kept = [json.loads(line) for line in partial.read_text().splitlines()[1:]]
    assert 2 <= len(kept) < len(names) and not (project / "runs" / "eval" / "results.parquet").exists()
    first = kept[0]["task_id"]

    r = hydra(*cmd, cwd=project, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resuming: {len(kept)} task(s) measured by an earlier run are kept" in r.stderr
    assert f"[1/6] {first}: measured by the earlier run, kept" in r.stderr
    measured = re.findall(r"^\[\d/6\] \S+: \d+ candidate\(s\), [\d.]+ s", r.stderr, flags=re.M)
    assert len(measured) == len(names) - len(kept), r.stderr   # only the rest measured
    df = pd.read_parquet(project / "runs" / "eval" / "results.parquet")
    assert sorted(set(df["task_id"])) == sorted(f"patterns/{n}" for n in names)
    was = {(row["config"], row["candidate"]): row["cand_latency"] for row in kept[0]["rows"]}
    now = df[df["task_id"] == first]
    assert {(c, k): v for c, k, v in zip(now["config"], now["candidate"], now["cand_latency"])} == was
    assert not partial.exists()   # the report holds every row now
    # The finished output is not replaced by another configuration unasked ...
    r = hydra(*cmd, "measure.repeats=7", cwd=project, timeout=300)
    assert r.returncode == 2 and "measure.repeats: 5 → 7" in r.stderr and "--overwrite" in r.stderr, r.stderr
    # ... and a replacement (stopped) does not reuse rows measured under another configuration.
    proc = start(*cmd, "measure.repeats=7", "--overwrite", cwd=project)
    read_until(proc, r"^\[2/6\]", timeout=300)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    r = hydra(*cmd, cwd=project, timeout=600)
    assert "from a run with another configuration or other candidates; starting over" in r.stderr, r.stderr
    assert "measured by the earlier run" not in r.stderr


def test_enrich_with_nothing_valid_to_measure_says_why_and_fails(project):
    """Every record rejected (or an empty file): no data is written, so the run must not end as a success
    that lists outputs which `label` then cannot find."""
    (project / "bad.jsonl").write_text('{"foo": 1}\n{"pair_id": "p:1", "slow": {"code": "print(1)"}}\n')
    r = hydra("enrich", "--input", "bad.jsonl", "--output", "runs/bad", "--config", "configs/enrich/quick.yaml",
              cwd=project, timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "nothing to measure: 2 record(s) read" in r.stdout and "2 rejected" in r.stdout
    assert "rejected.jsonl" in r.stdout and "[enrich] done" not in r.stdout
    assert len((project / "runs" / "bad" / "rejected.jsonl").read_text().splitlines()) == 2
