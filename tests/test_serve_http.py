"""The service over real HTTP: Ray Serve on 127.0.0.1, the recorded-completions generation backend.

One Serve application for the module, deployed through the preset import path (as ``serve run`` does).
Covered: a valid request whose ranking is known, every kind of bad request (precise 4xx, never 500),
hostile candidates, 20 concurrent requests, /v1/profile, the OpenAI route driven by the evaluation
harness's own client, and the ``hydra-ray optimize`` command.
"""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hydra_ray.prefs.prompt import render_messages
from hydra_ray.serve.schemas import OptimizeResponse, ProfileResponse

ray = pytest.importorskip("ray")
from ray import serve  # noqa: E402

from hydra_ray.serve.testing import deploy, free_port, write_recorded  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ORIGINAL = "import time\nn = int(input())\ntime.sleep(0.25)\nprint(sum(range(n)))\n"
FAST = "n = int(input())\nprint(n * (n - 1) // 2)\n"
SLOWER = "import time\nn = int(input())\ntime.sleep(0.5)\nprint(sum(range(n)))\n"
WRONG_FAST = "n = int(input())\nprint(n)\n"
TARGET = "print(sum(map(int, input().split())))\n"
TARGET_ALT = "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\n"
HOSTILE = ["while True:\n    pass\n", "import os\nwhile True:\n    os.fork()\n",
           "x = []\nwhile True:\n    x.append(bytearray(10**7))\n"]
CHEAP = "n = int(input())\nprint(n * 2)\n"
CHAT_CODE = "print(sum(range(10)))\n"
RUNTIME = [1.0, 0.0, 0.0, 0.0, 0.0]
MAX_CODE = 4000
MAX_BODY = 200_000
MAX_IO = 100_000


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-http")
    recorded = write_recorded(
        tmp / "recorded.jsonl",
        by_code={ORIGINAL: [WRONG_FAST, FAST, SLOWER], TARGET: [*HOSTILE, TARGET_ALT], CHEAP: ["n = int(input())\nprint(n + n)\n"]},
        by_prompt=[(render_messages(CHAT_CODE, RUNTIME), ["print(45)\n"])])
    args = {
        "backend": "recorded", "recorded": {"path": str(recorded)},
        "generation": {"n_candidates": 3, "max_candidates": 6},
        # A burst of 20 clients (test_twenty_concurrent_requests) is about isolation, not back-pressure
        # (test_serve_use): Ray counts calls still being assigned as queued, so a burst can meet the
        # default bound of 16 before 16 really wait.
        "deployments": {"generation": {"num_cpus": 0.25}, "verification": {"num_cpus": 1, "max_queued_requests": 64}},
        "limits": {"max_code_bytes": MAX_CODE, "max_body_bytes": MAX_BODY, "max_io_bytes": MAX_IO},
        "verification": {"profile": {
            "warmup": 0, "repeats": 5, "throughput_bursts": 4, "remeasure_unsteady": 0,
            "sandbox": {"wall_time_s": 2, "cpu_time_s": 2, "memory_mb": 512}}},
    }
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        yield deploy(args, free_port())
    finally:
        serve.shutdown()
        ray.shutdown()


def post(url: str, route: str, body=None, *, content: str | None = None, timeout: float = 300):
    if content is not None:
        return httpx.post(url + route, content=content, headers={"Content-Type": "application/json"}, timeout=timeout)
    return httpx.post(url + route, json=body, timeout=timeout)


def test_health_and_openapi(url):
    health = httpx.get(url + "healthz", timeout=30).json()
    assert health["status"] == "ok" and health["generation"]["backend"] == "recorded"
    assert health["verification"]["isolation"] in ("bwrap", "none")
    schema = httpx.get(url + "openapi.json", timeout=30).json()
    for path in ("/v1/optimize", "/v1/profile", "/v1/chat/completions", "/healthz"):
        assert path in schema["paths"], path
    fields = schema["components"]["schemas"]["OptimizeRequest"]["properties"]
    assert {"code", "tests", "inputs", "weights", "preset", "n_candidates", "max_new_tokens"} <= set(fields)


def test_schema_declares_what_the_service_rejects(url):
    """What the OpenAPI schema accepts, the service accepts: an empty or blank `code` and an unknown
    chat role are declared invalid in the schema (minLength/pattern, enum) and rejected with 422."""
    from hydra_ray.serve.api import CHAT_ROLES

    comps = httpx.get(url + "openapi.json", timeout=30).json()["components"]["schemas"]
    for name in ("OptimizeRequest", "ProfileRequest"):
        code = comps[name]["properties"]["code"]
        assert code["minLength"] == 1 and code["pattern"] == r"\S", code
    role = comps["ChatMessage"]["properties"]["role"]
    assert sorted(role["enum"]) == sorted(CHAT_ROLES), role
    for route in ("v1/optimize", "v1/profile"):
        for blank in ("", "   \n"):
            r = post(url, route, {"code": blank})
            assert r.status_code == 422 and r.json()["error"]["param"] == "code", (route, blank, r.text)
    r = post(url, "v1/chat/completions", {"messages": [{"role": "", "content": "print(1)"}]})
    assert r.status_code == 422 and "role" in r.json()["error"]["param"], r.text


def test_valid_request_returns_every_candidate_and_the_faster_one_as_best(url):
    r = post(url, "v1/optimize", {"code": ORIGINAL, "tests": [{"input": "1000\n", "expected": "499500\n"}],
                                  "weights": {"runtime": 1.0}})
    assert r.status_code == 200, r.text
    body = OptimizeResponse.model_validate(r.json())
    assert body.best.improved and body.best.index == 1 and body.best.code.strip() == FAST.strip()
    by = {c.index: c for c in body.candidates}
    assert set(by) == {0, 1, 2}
    assert by[1].rank == 1 and by[1].beats_original and by[1].significant["latency"]
    assert by[0].verdict == "wrong_answer" and not by[0].beats_original and by[0].rank == 3
    assert by[2].verdict == "passed" and by[2].margin < 0
    assert body.weights["latency"] == 1.0 and body.verification["tests"] == 1
    assert body.original.verdict == "passed" and body.original.metrics["latency_ms"].value > 200
    t = body.timings
    assert t["total_s"] >= t["sandbox_s"] > 0 and t["generation_s"] >= 0


def test_nothing_better_returns_the_original(url):
    # Under memory weights the faster program is no better: same interpreter, same peak memory.
    r = post(url, "v1/optimize", {"code": CHEAP, "inputs": ["21\n"], "preset": "memory", "n_candidates": 1})
    assert r.status_code == 200, r.text
    best = r.json()["best"]
    assert not best["improved"] and best["index"] is None and best["code"] == CHEAP
    assert best["reason"].startswith("no candidate is better")


@pytest.mark.parametrize("body, content, status, kind, words", [
    (None, '{"code": "print(1)", ', 400, "invalid_json", ["not valid JSON"]),
    (None, "", 400, "missing_body", ["missing"]),
    (None, "[1]", 422, "invalid_request", ["request body is valid JSON but an array; send a JSON object"]),
    (None, '"print(1)"', 422, "invalid_request", ["request body is valid JSON but a string"]),
    ({"code": "print(1)", "weights": {"runtime": -0.5, "memory": 1.5}}, None, 422, "invalid_weights",
     ["negative", "runtime"]),
    ({"code": "print(1)", "weights": [0.5, 0.6, 0, 0, 0]}, None, 422, "invalid_weights", ["sum to 1", "1.1"]),
    ({"code": "print(1)", "weights": {"speed_of_light": 1}}, None, 422, "invalid_weights", ["unknown objective"]),
    ({"code": "print(1)", "preset": "warp"}, None, 422, "unknown_preset", ["warp", "runtime"]),
    ({"code": "x = 1\n" * 1000}, None, 413, "code_too_large", ["6,000 bytes", f"{MAX_CODE:,}"]),
    ({"code": "print 'python 2'\n"}, None, 422, "syntax_error", ["does not parse", "line 1"]),
    ({"code": "   \n"}, None, 422, "empty_code", ["empty"]),
    ({"code": 5}, None, 422, "invalid_request", ["code", "string"]),
    ({"kode": "print(1)"}, None, 422, "invalid_request", ["code: Field required", "kode: unknown field"]),
    ({"code": "print(1)", "n_candidates": 50}, None, 422, "limit_exceeded", ["n_candidates=50", "6"]),
    ({"code": "print(1)", "n_candidates": 0}, None, 422, "invalid_request", ["n_candidates"]),
    ({"code": "print(1)", "tests": [{"input": "", "expected": "2\n"}]}, None, 422, "original_fails",
     ["fails test 1/1", "wrong_answer"]),
    ({"code": "print(int(input()))", "inputs": ["x\n"]}, None, 422, "original_fails", ["input", "runtime_error"]),
    ({"code": "print(1)\n", "inputs": ["y" * 300_000]}, None, 413, "body_too_large", ["limit"]),
    ({"code": "print(1)\n", "inputs": ["y" * 150_000]}, None, 413, "io_too_large", ["inputs hold 150,000"]),
    ({"code": "print(1)\n", "tests": [{"input": "y" * 150_000, "expected": "1\n"}]}, None, 413, "io_too_large",
     ["tests hold 150,002"]),
    ({"code": "print(1)\x00\n"}, None, 422, "syntax_error", ["null bytes (the first at line 1, column 9)"]),
])
def test_bad_requests_get_precise_4xx(url, body, content, status, kind, words):
    r = post(url, "v1/optimize", body, content=content)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == kind and err["code"] == status
    for w in words:
        assert w in err["message"], err["message"]
    if kind == "syntax_error":
        assert "line None" not in err["message"], err["message"]
    if kind == "io_too_large":   # the param is what was sent, not always "tests"
        assert err["param"] == ("inputs" if "inputs" in body else "tests"), err


def test_chunked_body_is_refused_once_past_the_limit(url):
    """No Content-Length (Transfer-Encoding: chunked): the limit holds as the body arrives. The body
    below never ends (no last chunk), so only a service that stops reading at the limit answers."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(url)
    chunk = b"y" * 65536
    with socket.create_connection((where.hostname, where.port), timeout=60) as s:
        s.sendall(b"POST /v1/optimize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(MAX_BODY // len(chunk) + 1):   # just past the limit
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = s.recv(65536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    err = json.loads(body)["error"]
    assert err["type"] == "body_too_large" and f"{MAX_BODY:,}" in err["message"], err

    def complete():   # a whole chunked body over the limit, as a generator makes httpx send it
        yield b'{"code": "print(1)", "inputs": ["'
        yield b"y" * (MAX_BODY + 1)
        yield b'"]}'
    r = httpx.post(url + "v1/optimize", content=complete(), headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 413 and r.json()["error"]["type"] == "body_too_large", r.text
    ok = httpx.post(url + "v1/profile", content=iter([json.dumps({"code": FAST, "inputs": ["4\n"]}).encode()]),
                    headers={"Content-Type": "application/json"}, timeout=300)
    assert ok.status_code == 200 and ok.json()["verdict"] == "passed", ok.text   # under the limit: read as usual


def test_json_sent_with_another_content_type_is_named(url):
    r = httpx.post(url + "v1/optimize", content=json.dumps({"code": "print(1)"}), timeout=60,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})   # what curl -d sends
    assert r.status_code == 415, r.text
    err = r.json()["error"]
    assert err["type"] == "unsupported_media_type"
    assert "application/x-www-form-urlencoded" in err["message"] and "Content-Type: application/json" in err["message"]


def test_docs_page_works_offline(url):
    """/docs names every route and the schema in its HTML: Swagger UI (from the CDN) only replaces that."""
    page = httpx.get(url + "docs", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    schema = httpx.get(url + "openapi.json", timeout=30).json()
    for path in schema["paths"]:
        assert f" {path}</code>" in page.text, path
    assert 'href="/openapi.json"' in page.text and "cdn.jsdelivr.net" in page.text
    assert "if (window.SwaggerUIBundle)" in page.text   # the list stays when the CDN's script did not load
    assert "cdn.jsdelivr.net" in schema["info"]["description"]


def test_unknown_routes_and_methods(url):
    assert httpx.get(url + "v1/nothing", timeout=30).status_code == 404
    r = httpx.get(url + "v1/optimize", timeout=30)
    assert r.status_code == 405 and "POST /v1/optimize" in r.json()["error"]["message"]
    assert r.headers["allow"] == "POST", r.headers     # RFC 9110: a 405 names the allowed methods
    r = httpx.delete(url + "healthz", timeout=30)
    assert r.status_code == 405 and "GET" in r.headers["allow"], r.headers


def test_no_recorded_answer_is_a_502_naming_the_keys(url):
    r = post(url, "v1/optimize", {"code": "print('not recorded')\n"})
    assert r.status_code == 502 and r.json()["error"]["type"] == "generation_failed"
    assert "code_sha256" in r.json()["error"]["message"]


def test_hostile_candidates_are_contained(url):
    r = post(url, "v1/optimize", {"code": TARGET, "inputs": ["1 2 3\n"], "preset": "runtime", "n_candidates": 4})
    assert r.status_code == 200, r.text
    by = {c["index"]: c for c in r.json()["candidates"]}
    assert by[0]["verdict"] == "timeout"
    assert by[1]["verdict"] in ("runtime_error", "timeout", "memory_limit")
    assert by[2]["verdict"] == "memory_limit"
    assert by[3]["verdict"] == "passed"
    assert r.json()["best"]["index"] in (None, 3)
    assert httpx.get(url + "healthz", timeout=30).status_code == 200


def test_twenty_concurrent_requests(url):
    """Nineteen ordinary requests and one whose candidates are hostile, all at once: every answer is a 200
    and the hostile candidates (a fork bomb among them) do not make anyone else's programs fail."""
    def one(k: int):
        if k == 7:
            return post(url, "v1/optimize", {"code": TARGET, "inputs": ["1 2\n"], "n_candidates": 4}, timeout=600)
        return post(url, "v1/optimize", {"code": CHEAP, "inputs": [f"{k}\n"], "preset": "runtime", "n_candidates": 1},
                    timeout=600)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(one, range(20)))
    assert [a.status_code for a in answers] == [200] * 20, [a.text[:200] for a in answers if a.status_code != 200]
    for k, a in enumerate(answers):
        if k == 7:
            assert a.json()["candidates"][0]["verdict"] in ("passed", "timeout", "runtime_error", "memory_limit")
            continue
        assert a.json()["original"]["verdict"] == "passed"
        cand = a.json()["candidates"][0]
        assert cand["verdict"] == "passed", cand
        assert a.json()["verification"]["differential_inputs"] == 1


def test_profile_route(url):
    r = post(url, "v1/profile", {"code": FAST, "tests": [{"input": "4\n", "expected": "6\n"}]})
    assert r.status_code == 200, r.text
    body = ProfileResponse.model_validate(r.json())
    assert body.verdict == "passed" and set(body.metrics) >= {"latency_ms", "peak_memory_kb", "energy_j"}
    bad = post(url, "v1/profile", {"code": FAST, "tests": [{"input": "4\n", "expected": "7\n"}]}).json()
    assert bad["verdict"] == "wrong_answer" and "expected '7'" in bad["detail"]
    assert post(url, "v1/profile", {"code": "def (:"}).status_code == 422


def test_openai_route_with_the_evaluation_harness_client(url):
    from hydra_ray.evaluate.openai_client import ChatClient, OpenAIConfig
    from hydra_ray.evaluate.optimizers import hydra_optimizer
    from hydra_ray.evaluate.tasks import Task, TestCase

    task = Task("t1", CHAT_CODE, None, (TestCase("", "45\n"),))
    cfg = OpenAIConfig(base_url=url + "v1", model="hydra", api_key_env="", cache_dir=None, max_retries=0)
    with ChatClient(cfg) as client:
        cands = hydra_optimizer(client, [RUNTIME]).propose([task])["t1"]
    assert [c.code for c in cands] == ["print(45)\n"] or [c.code.strip() for c in cands] == ["print(45)"]
    # The weights extension re-renders the training prompt around the program: same recorded answer.
    r = post(url, "v1/chat/completions", {"model": "anything", "weights": {"runtime": 1},
                                          "messages": [{"role": "user", "content": f"```python\n{CHAT_CODE}```"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "hydra"
    assert "print(45)" in body["choices"][0]["message"]["content"]
    assert body["hydra"]["weights"]["latency"] == 1.0
    r = post(url, "v1/chat/completions", {"messages": [{"role": "user", "content": "no code here"}], "preset": "memory"})
    assert r.status_code == 422 and r.json()["error"]["type"] == "no_program"
    assert httpx.get(url + "v1/models", timeout=30).json()["data"][0]["id"] == "hydra"


def sse_events(response) -> list:
    from hydra_ray.serve.streaming import read_events

    return read_events(response.iter_lines())


def test_openai_route_streams_server_sent_events(url):
    body = {"model": "hydra", "weights": {"runtime": 1}, "n": 2, "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": f"```python\n{CHAT_CODE}```"}]}
    plain = post(url, "v1/chat/completions", {**body, "stream": False}).json()
    with httpx.stream("POST", url + "v1/chat/completions", json=body, timeout=300) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    assert events[-1] == "[DONE]" and events[-2]["choices"] == [] and "usage" in events[-2]
    chunks = [e for e in events[:-2]]
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == chunks[0]["id"] for e in chunks)
    for i in (0, 1):
        mine = [e["choices"][0] for e in chunks if e["choices"][0]["index"] == i]
        assert mine[0]["delta"]["role"] == "assistant" and mine[-1]["finish_reason"] == "stop"
        assert len(mine) > 2, "the recorded answer arrives line by line"
        text = "".join(c["delta"].get("content", "") for c in mine)
        assert text == plain["choices"][i]["message"]["content"]
    # No recorded answer: the error comes before any event, with its HTTP status.
    r = post(url, "v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert r.status_code == 502 and r.json()["error"]["type"] == "generation_failed"


def test_optimize_command(url, tmp_path):
    prog, inp, out = tmp_path / "slow.py", tmp_path / "in.txt", tmp_path / "best.py"
    prog.write_text(ORIGINAL)
    inp.write_text("1000\n")
    cmd = [sys.executable, "-m", "hydra_ray.cli", "optimize", str(prog), "--input", str(inp),
           "--weights", "runtime=1", "--url", url, "--output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("rank"))
    assert lines[header + 1].split()[:3] == ["1", "1", "passed"], proc.stdout
    assert "best: candidate 1" in proc.stdout and FAST.strip() in proc.stdout
    assert out.read_text().strip() == FAST.strip()
    as_json = subprocess.run(cmd[:-2] + ["--json", "-n", "1"], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert json.loads(as_json.stdout)["generation"]["n"] == 1
    bad = subprocess.run(cmd[:5] + ["--weights", "runtime=0.5", "--url", url], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    # refused before sending (exit 2), in the service's own words
    assert bad.returncode == 2 and "--weights: weights must sum to 1" in bad.stderr, bad.stderr
    usage = subprocess.run(cmd[:5] + ["--weights", "runtime"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert usage.returncode == 2 and "name=value" in usage.stderr
