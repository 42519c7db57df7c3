"""The HTTP API under a property-based fuzzer (schemathesis), bounded in examples and time: slow suite.

It starts `hydra-ray serve` with the recorded-demo preset as a user would, in `round_robin` mode so
every generated program gets an answer (with `prompt_hash` an unknown program is a deliberate 502,
"no recorded completion", which the fuzzer would count as a server error).

Checks: all of schemathesis' checks but `max_response_time` (sandboxed measurement on a loaded
2-core machine is slow, not wrong) and `positive_data_acceptance`. The latter expects every
schema-valid body to succeed, and the service rightly answers 422 to a non-blank `code` that is not
Python 3 (a syntax error cannot be written as a JSON-schema constraint). What *can* be declared is
(blank `code`: minLength and pattern; chat roles: an enum; strict types), and
tests/test_serve_http.py::test_schema_declares_what_the_service_rejects checks each of those.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_schemathesis_finds_no_failure(tmp_path):
    st = shutil.which("st") or shutil.which("schemathesis")
    if st is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]' installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    server = subprocess.Popen([sys.executable, "-m", "hydra_ray.cli", "serve", "--config",
                               "configs/serve/recorded-demo.yaml", "--port", str(port),
                               "recorded.mode=round_robin"], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for line in server.stdout:
            if "ready at" in line:
                break
        else:
            pytest.fail("the service did not start")
        r = subprocess.run([st, "run", f"http://127.0.0.1:{port}/openapi.json", "--checks", "all",
                            "--exclude-checks", "positive_data_acceptance", "--max-examples", "8",
                            "--seed", "1", "--request-timeout", "120", "--output-sanitize", "false"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stdout[-6000:]
        assert "generated" in r.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=120)
