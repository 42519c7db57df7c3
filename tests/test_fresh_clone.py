"""The README's main command, as a new user runs it: a fresh clone, the exact command line `make run`
runs (its relative OUT included), run from the clone's root.

This is what broke unnoticed once: every other test passed absolute temporary paths, while `make
run` gave a relative `--output` and the Ray Train workers, which run in another working directory,
could not find `runs/quickstart/tiny-model`.

`make run` itself also runs `scripts/setup.sh`, which would re-point this machine's editable install
at the temporary clone; so the test asks make for the command lines (`make -n run`), checks the setup
step is the first, and runs the rest with the clone's code first on PYTHONPATH.
Set HYDRA_FRESH_CLONE_REV to check another commit out (e.g. to see an old main fail).
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 60          # "without -v, its whole output is at most about 60 lines"


def _clone(tmp_path: Path) -> Path:
    clone = tmp_path / "hydra-ray"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    rev = os.environ.get("HYDRA_FRESH_CLONE_REV")
    if rev:
        subprocess.run(["git", "checkout", "-q", rev], cwd=clone, check=True, timeout=60)
    return clone


def _make_run_commands(clone: Path) -> list[str]:
    # Under `make test` (CI) make's own variables would make this a sub-make that prints
    # "Entering directory" lines: ask as a top-level make would be asked.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    out = subprocess.run(["make", "--no-print-directory", "-n", "run"], cwd=clone, env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    return [line.strip() for line in out.stdout.splitlines() if line.strip() and not line.startswith("make")]


def _session_pids(session: str) -> list[int]:
    pids = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(session in part for part in (p.info["cmdline"] or [])):
                pids.append(p.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def test_make_run_from_a_fresh_clone(tmp_path):
    clone = _clone(tmp_path)
    lines = _make_run_commands(clone)
    assert lines[0] == "bash scripts/setup.sh", lines
    (main,) = [ln for ln in lines[1:] if ln.startswith("hydra-ray ")]
    argv = shlex.split(main)
    assert "--output" in argv and not Path(argv[argv.index("--output") + 1]).is_absolute(), main
    out = clone / argv[argv.index("--output") + 1]

    env = {**os.environ, "PYTHONPATH": str(clone)}
    env.pop("HYDRA_RAY_VERBOSE", None)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", *argv[1:]], cwd=clone, env=env,
                       capture_output=True, text=True, timeout=1500)
    took = time.monotonic() - t0
    printed = (r.stdout + r.stderr).rstrip("\n").splitlines()
    assert r.returncode == 0, "\n".join(printed[-60:])

    # What a person reads: short, ending with one line per stage.
    assert len(printed) <= MAX_LINES, f"{len(printed)} lines:\n" + "\n".join(printed)
    report = printed[printed.index(next(ln for ln in printed if ln.startswith("=== demo report"))):]
    for stage in ("enrich", "label", "train", "serve", "optimize", "total"):
        assert any(ln.startswith(stage) for ln in report), report
    assert not any("INFO" in ln or "(raylet)" in ln or "Traceback" in ln for ln in printed), printed

    # Each stage wrote its outputs, under the relative OUT inside the clone.
    assert list((out / "enrich" / "data").glob("part-*.parquet"))
    assert json.loads((out / "enrich" / "summary.json").read_text())["sets_total"] == 10
    assert (out / "labelled" / "labels.parquet").is_file() and (out / "labelled" / "labeler.json").is_file()
    assert (out / "train" / "adapter" / "adapter_config.json").is_file()
    assert json.loads((out / "train" / "alpha.json").read_text())["completed"]
    resp = json.loads((out / "optimize_response.json").read_text())
    best = resp["best"]
    if best["index"] is not None:      # whatever the random tiny model says, nothing unverified wins
        assert resp["candidates"][best["index"]]["verdict"] == "passed"

    # The embedded Ray is gone with the command: no process of its session is left.
    session = next(ln for ln in printed if ln.startswith("[ray] embedded Ray started")).split("logs: ")[1]
    session_name = Path(session).parent.name
    assert not _session_pids(session_name), f"left behind: {_session_pids(session_name)}"
    print(f"make run's command took {took:.0f} s; {len(printed)} lines")
