"""`hydra-ray serve` as a user runs it: the offline demo preset, its own local Ray, stopped by Ctrl-C."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hydra_ray.evaluate.suites.patterns import ROOT as PATTERNS
from hydra_ray.ray_runtime import wait_gone
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
    port = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "serve", "--config",
                           "configs/serve/recorded-demo.yaml", "--check", "--port", "99999"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert port.returncode == 2 and "port 99999 is not a TCP port: give 1-65535" in port.stderr, port.stderr


def _listener(reuseport: bool) -> socket.socket:
    """A socket listening on a free port of 127.0.0.1; with SO_REUSEPORT, as Ray's HTTP proxy binds."""
    s = socket.socket()
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


@pytest.mark.parametrize("reuseport,local_by", [(False, "option"), (True, "option"), (True, "environment")],
                         ids=["plain", "reuseport", "RAY_ADDRESS=local"])
def test_serve_refuses_a_busy_port_before_starting_ray(reuseport, local_by):
    import os

    address = ["--ray-address", "local"] if local_by == "option" else []
    env = {**os.environ, "RAY_ADDRESS": "local"} if local_by == "environment" else None
    with _listener(reuseport) as busy:
        port = busy.getsockname()[1]
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "serve", "--config",
                            "configs/serve/recorded-demo.yaml", "--port", str(port), *address],
                           capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
        took = time.monotonic() - t0
    assert r.returncode == 2, r.stdout + r.stderr
    assert (f"port {port} on 127.0.0.1 is in use (by another hydra-ray serve?); stop it or pass --port"
            in r.stderr), r.stderr
    assert "[ray]" not in r.stdout and "ready at" not in r.stdout, r.stdout   # Ray was never started
    assert took < 60, took   # no Ray start (its own start takes 10 s and more here)


def test_the_command_and_the_service_agree_on_when_a_local_ray_is_started(monkeypatch):
    """One rule, asked by both: the command checks this machine's port and devices only when the
    service will start its Ray here (no address, or the address ``local``, given either way)."""
    from hydra_ray.serve.service import starts_local_ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert starts_local_ray(None) and starts_local_ray("local")
    assert not starts_local_ray("ray://head:10001") and not starts_local_ray("auto")
    monkeypatch.setenv("RAY_ADDRESS", "local")
    assert starts_local_ray(None)
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert not starts_local_ray(None) and starts_local_ray("local")


def test_port_problem_says_what_cannot_be_listened_on():
    from hydra_ray.serve.service import port_problem

    assert port_problem("127.0.0.1", free_port()) is None
    for bad in (0, -1, 65536, 99999):
        assert "is not a TCP port: give 1-65535" in port_problem("127.0.0.1", bad)
    with _listener(True) as busy:
        assert "is in use" in port_problem("127.0.0.1", busy.getsockname()[1])
    # TEST-NET-3 (RFC 5737): an address no machine of ours has
    assert "is 203.0.113.7 an address of this machine?" in port_problem("203.0.113.7", free_port())


def test_serve_shutdown_notice_is_kept_out_of_the_terminal(monkeypatch, capsys):
    """serve.shutdown() ends with Ray reporting its own call to the controller as a task to retry;
    that one line is dropped from the driver's error output, any other error still prints."""
    from ray._private import worker

    from hydra_ray.serve.service import _drop_shutdown_notice

    monkeypatch.setenv("HYDRA_RAY_VERBOSE", "0")
    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)   # restored afterwards
    _drop_shutdown_notice()
    _drop_shutdown_notice()   # once is enough: not wrapped twice
    notice = ("Task ServeController.graceful_shutdown failed. There are infinite retries remaining, so the task "
              "will be retried. Error: The actor is dead because it was killed by `ray.kill`.")
    worker.print_to_stdstream({"lines": [notice], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    crashed = notice.replace("killed by `ray.kill`", "its worker process has died")
    worker.print_to_stdstream({"lines": [crashed], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    out = capsys.readouterr().out
    assert out.count("graceful_shutdown") == 1 and "its worker process has died" in out, out


@pytest.mark.parametrize("sig, rc, said", [(signal.SIGINT, 130, "interrupted"),
                                           (signal.SIGTERM, 143, "terminated (SIGTERM)")], ids=["ctrl-c", "sigterm"])
def test_serve_interrupted_while_starting_says_so_and_leaves_nothing_running(sig, rc, said):
    """Ctrl-C or SIGTERM after Ray is up but before the service answers: the CLI's message and exit
    code, and every process of the Ray it started gone (no more an exit 0 without a word)."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-m", "hydra_ray.cli", "serve", "--config",
                             "configs/serve/recorded-demo.yaml", "--port", str(free_port()), "--ray-address", "local",
                             "--num-cpus", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = proc.stdout.readline()   # printed once ray.init returned; deploying takes seconds more
        assert first.startswith("[ray] embedded Ray started"), first
        started = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert "ready at" not in out, "the service was up before the signal: nothing was tested"
    assert proc.returncode == rc, (out, err)
    assert f"hydra-ray serve: {said}" in err, err
    assert started and not wait_gone(started, 15), "left running"


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
