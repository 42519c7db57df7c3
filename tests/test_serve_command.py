"""`hydra-ray serve` as a user runs it: the offline demo preset, its own local Ray, stopped by Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hydra_ray.evaluate.suites.patterns import ROOT as PATTERNS
from hydra_ray.serve.testing import free_port

REPO = Path(__file__).resolve().parents[1]


def test_serve_check_validates_without_starting_anything():
    ok = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "serve", "--config", "configs/serve/recorded-demo.yaml",
                         "--check"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert '"Verifier"' in ok.stdout and '"autoscaling_config"' in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "serve", "--config", "configs/serve/tiny-cpu.yaml",
                          "--check", "model.training_output=/nonexistent/run"], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert bad.returncode == 2 and "/nonexistent/run is not a directory" in bad.stderr


@pytest.mark.slow   # the default suite serves the same preset in test_user_path (stopped with SIGTERM)
def test_serve_command_runs_the_demo_preset_until_interrupted():
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen([sys.executable, "-m", "hydra_ray.cli", "serve", "--config",
                             "configs/serve/recorded-demo.yaml", "--port", str(port), "--ray-address", "local",
                             "--num-cpus", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, start_new_session=True,
                            # Ctrl-C as at a terminal, even when the suite runs in the background (SIGINT ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "healthz", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        original = (PATTERNS / "fib_no_memo" / "original.py").read_text()
        better = (PATTERNS / "fib_no_memo" / "better.py").read_text()
        r = httpx.post(url + "v1/optimize", json={"code": original, "inputs": ["2\n25\n31\n"], "preset": "runtime"},
                       timeout=600)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["best"]["improved"] and body["best"]["code"].strip() == better.strip(), body["best"]
        verdicts = sorted(c["verdict"] for c in body["candidates"])
        assert verdicts == ["passed", "unchanged", "wrong_answer"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        assert f"ready at {url}" in out and "stopped" in out
        with pytest.raises(httpx.HTTPError):
            httpx.get(url + "healthz", timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
