"""The `hydra-ray optimize` client without a service: its files are checked before anything is sent,
the request keeps what the user asked for, and the table says what is estimated and how it was measured.
(The client against a real service: test_serve_http.test_optimize_command.)"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_ray.serve.client import (ClientError, check_output_path, format_result, format_table, optimize_body,
                                    read_tests, read_text_file)
from hydra_ray.serve.testing import free_port

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_tests_file_in_every_accepted_shape(tmp_path):
    one = {"input": "1\n", "expected": "2\n"}
    assert read_tests(write(tmp_path / "a.json", json.dumps([one, {"expected": "0\n"}]))) == \
        [one, {"input": "", "expected": "0\n"}]
    assert read_tests(write(tmp_path / "b.json", json.dumps(one))) == [one]
    assert read_tests(write(tmp_path / "c.jsonl", json.dumps(one) + "\n\n" + json.dumps(one) + "\n")) == [one, one]


@pytest.mark.parametrize("name, text, words", [
    ("null.json", '[{"input": "1\\n", "expected": null}]', ['item 0 of', '"expected" must be a string', "got null"]),
    ("number.jsonl", '{"input": "1\\n", "expected": "2\\n"}\n{"input": 3, "expected": "4\\n"}',
     ['line 2 of', '"input" must be a string', "got 3"]),
    ("empty.json", "[]", ["holds no tests", "leave --tests out"]),
    ("blank.jsonl", "\n\n", ["holds no tests"]),
    ("scalar.json", "[5]", ["item 0 of", "expected an object", "got 5"]),
    ("extra.json", '[{"input": "", "expected": "1", "stdin": "x"}]', ["unknown field(s) stdin"]),
    ("missing.json", '[{"input": "1\\n"}]', ['"expected" (the expected stdout) is missing']),
    ("broken.jsonl", '{"expected": "1"}\n{"expected": ', ["neither JSON nor JSONL: line 2"]),
])
def test_tests_file_problems_name_the_file_and_the_entry(tmp_path, name, text, words):
    path = write(tmp_path / name, text)
    with pytest.raises(ClientError) as e:
        read_tests(path)
    assert str(e.value).startswith("--tests: ") and str(path) in str(e.value), e.value
    for w in words:
        assert w in str(e.value), e.value


def test_unreadable_files_say_why(tmp_path):
    (tmp_path / "dir.py").mkdir()
    (tmp_path / "latin1.py").write_bytes("print('é')\n".encode("latin-1"))
    with pytest.raises(ClientError, match=r"FILE.py: .*dir.py is a directory; give a file"):
        read_text_file(tmp_path / "dir.py", "FILE.py")
    with pytest.raises(ClientError, match=r"--input: .*latin1.py is not UTF-8 text \(byte 0xe9 at offset 7\)"):
        read_text_file(tmp_path / "latin1.py", "--input")
    with pytest.raises(ClientError, match=r"--tests: .*nothing.json does not exist"):
        read_tests(tmp_path / "nothing.json")
    with pytest.raises(ClientError, match=r"--output: directory /nonexistent-dir does not exist"):
        check_output_path("/nonexistent-dir/best.py")
    with pytest.raises(ClientError, match=r"--output: .*dir.py is a directory"):
        check_output_path(tmp_path / "dir.py")
    check_output_path(tmp_path / "best.py")


def test_request_keeps_zeros_for_the_service_to_judge():
    body = optimize_body("print(1)\n", None, None, None, None, 0, 0)
    assert body["n_candidates"] == 0 and body["max_new_tokens"] == 0
    assert set(optimize_body("print(1)\n", None, None, None, "runtime", None, None)) == {"code", "preset"}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # A port nobody listens on: a request that was sent would fail with exit 1 "cannot reach".
    url = f"http://127.0.0.1:{free_port()}"
    return subprocess.run([sys.executable, "-m", "hydra_ray.cli", "optimize", *args, "--url", url],
                          capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_command_refuses_bad_files_and_numbers_before_sending(tmp_path):
    write(tmp_path / "p.py", "print(int(input()) * 2)\n")
    write(tmp_path / "empty.json", "[]")
    (tmp_path / "latin1.py").write_bytes(b"print('\xe9')\n")
    cases = [(["p.py", "--output", "no/such/dir/best.py"], "--output: directory"),
             (["p.py", "--tests", "empty.json"], "holds no tests"),
             (["latin1.py"], "is not UTF-8 text"),
             (["p.py", "-n", "0"], "expected a whole number >= 1, got 0"),
             (["p.py", "--max-new-tokens", "0"], "expected a whole number >= 1, got 0")]
    for args, words in cases:
        r = _cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and words in r.stderr, (args, r.returncode, r.stderr)
        assert "cannot reach" not in r.stderr
    assert not (tmp_path / "no").exists()


def metric(value: float, source: str, estimated: bool) -> dict:
    return {"value": value, "unit": "", "source": source, "estimated": estimated, "n": 5, "iqr": 0.0}


METRICS = {"latency_ms": metric(100.0, "wall_clock", False), "peak_memory_kb": metric(10.0, "rusage", False),
           "cpu_cycles": metric(1e8, "estimate_cpu_time_x_clock", True),
           "throughput_per_s": metric(10.0, "wall_clock", False),
           "energy_j": metric(0.02, "estimate_cycles_x_2.5e-10", True)}
RESPONSE = {
    "weights": {"latency": 1.0}, "preset": "runtime",
    "original": {"verdict": "passed", "metrics": METRICS, "measure_mode": "inprocess", "measure_mode_reason": ""},
    "candidates": [
        {"index": 0, "rank": 1, "verdict": "passed", "margin": 0.9, "metrics": METRICS, "detail": "",
         "measure_mode": "inprocess", "measure_mode_reason": "",
         "ratios": {"latency": 0.5, "cycles": 0.5, "energy": 0.5}, "significant": {"latency": True, "cycles": True}},
        {"index": 1, "rank": 2, "verdict": "passed", "margin": -0.1, "metrics": METRICS, "detail": "",
         "measure_mode": "process", "measure_mode_reason": "reads sys.argv", "ratios": {}, "significant": {}}],
    "best": {"index": 0, "improved": True, "code": "print(2)\n", "reason": "faster"},
    "generation": {"batch_size": 4, "decoded_with": 1},
    "timings": {"total_s": 3.0, "generation_s": 1.5, "sandbox_s": 1.4},
}


def test_table_marks_estimates_and_says_how_programs_were_measured():
    text = format_table(RESPONSE)
    header = next(ln for ln in text.splitlines() if ln.startswith("rank"))
    assert header.split()[4:10] == ["latency", "memory", "cycles~", "throughput", "energy~", "detail"], header
    assert ("~ = ESTIMATE, derived rather than counted: cycles [estimate_cpu_time_x_clock], "
            "energy [estimate_cycles_x_2.5e-10]") in text
    assert "original: passed, latency 100.0 ms; measured in inprocess mode; candidate 1 in process mode " \
           "(reads sys.argv)" in text
    counted = copy.deepcopy(RESPONSE)
    for p in [counted["original"], *counted["candidates"]]:
        for m in p["metrics"].values():
            m["estimated"] = False
    assert "~" not in format_table(counted)
    assert "generation 1.50 s for a batch of 4 requests" in format_result(RESPONSE)
    assert "waiting" not in format_result(RESPONSE)
    queued = dict(RESPONSE, timings={**RESPONSE["timings"], "total_s": 33.0, "waiting_s": 30.0})
    assert "sandbox 1.40 s, waiting for a free replica 30.00 s)" in format_result(queued)


def test_a_service_too_slow_for_the_timeout_is_not_called_unreachable():
    """The service took the request but did not answer within --timeout: the message says so and names
    --timeout (it said "cannot reach ... is `hydra-ray serve` running there?")."""
    import socket

    from hydra_ray.serve.client import call

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        with pytest.raises(ClientError) as e:
            call(url, "/v1/optimize", {"code": "print(1)\n"}, timeout_s=0.5)   # accepted, never answered
    assert "no answer within 0.5 s (--timeout)" in str(e.value) and "cannot reach" not in str(e.value), e.value


def test_command_refuses_bad_weights_url_timeout_and_output_before_sending(tmp_path):
    """Each of these was sent: with the service down the user read "cannot reach ... is `hydra-ray serve`
    running there?" (a URL without http:// said so even with the service up), or the request ran for
    minutes and the answer was then lost (--output under /proc as root), or a weight was dropped
    (the same name twice) or the flag ignored (--weights '')."""
    write(tmp_path / "p.py", "print(int(input()) * 2)\n")
    cases = [(["--weights", "runtime=0.7"], "--weights: weights must sum to 1"),
             (["--weights", "foo=1"], "--weights: weights.foo: unknown objective"),
             (["--weights", "runtime=0.7,runtime=0.3"], "--weights: runtime is given twice"),
             (["--weights", ""], "--weights: empty"),
             (["--preset", "nope"], "--preset: unknown preset 'nope'"),
             (["--timeout", "0"], "argument --timeout: expected seconds > 0, got 0"),
             (["--output", "/proc/best.py"], "--output: cannot write /proc/best.py")]
    for args, words in cases:
        r = _cli("p.py", *args, cwd=tmp_path)
        assert r.returncode == 2 and words in r.stderr, (args, r.returncode, r.stderr)
        assert "cannot reach" not in r.stderr
    for url, words in [("localhost:8000", "--url: 'localhost:8000' has no http:// in front; e.g. --url "
                        "http://localhost:8000"), ("ftp://x", "not ftp://")]:
        r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "optimize", "p.py", "--url", url],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
        assert r.returncode == 2 and words in r.stderr, (url, r.returncode, r.stderr)
    # what is accepted still goes out (and fails only because nobody listens)
    r = _cli("p.py", "--weights", "runtime=0.7,memory=0.3", "--output", "best.py", cwd=tmp_path)
    assert r.returncode == 1 and "cannot reach" in r.stderr, r.stderr
    assert not (tmp_path / "best.py").exists()   # the write probe leaves nothing behind
