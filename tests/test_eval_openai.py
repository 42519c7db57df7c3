"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 (stdlib http.server in a
thread) that answers from a script of recorded completions, 429s and 500s."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hydra_ray.evaluate.openai_client import ChatClient, OpenAIConfig, OpenAIError, parse_retry_after
from hydra_ray.evaluate.optimizers import openai_optimizer
from hydra_ray.evaluate.prompts import PROMPT_CONFIGS
from hydra_ray.evaluate.tasks import Task, TestCase

FAST_PROGRAM = "n = int(input())\nprint(n * (n + 1) // 2)\n"


def completion(text: str) -> dict:
    """The shape an OpenAI-compatible server returns (recorded from a real vLLM answer, trimmed)."""
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}}


ANSWER = "Here is a faster version:\n\n```python\n" + FAST_PROGRAM + "```\n\nIt uses the closed form."


class Server:
    """Replies from ``script`` (a list of (status, headers, body)) in order, then ``default``.
    Records every request body and the peak number of requests in flight."""

    def __init__(self, script=(), default=(200, {}, completion(ANSWER)), delay_s: float = 0.0):
        self.script = list(script)
        self.default = default
        self.delay_s = delay_s
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (stdlib name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append(body)
                    outer.auth.append(self.headers.get("Authorization"))
                    outer.in_flight += 1
                    outer.peak = max(outer.peak, outer.in_flight)
                    status, headers, reply = outer.script.pop(0) if outer.script else outer.default
                time.sleep(outer.delay_s)
                with outer.lock:
                    outer.in_flight -= 1
                data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def make_cfg(url: str, tmp_path, **kw) -> OpenAIConfig:
    base = dict(base_url=url, model="m", api_key_env="", backoff_base_s=0.01, backoff_max_s=0.05,
                max_retries=3, cache_dir=str(tmp_path / "cache"), timeout_s=10.0)
    base.update(kw)
    return OpenAIConfig(**base)


MESSAGES = [{"role": "user", "content": "optimise this"}]


def test_completion_parsed_and_key_sent_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_EVAL_KEY", "sk-test-123")
    with Server() as srv, ChatClient(make_cfg(srv.url, tmp_path, api_key_env="TEST_EVAL_KEY")) as client:
        result = client.complete(MESSAGES)
    assert result.text == ANSWER and not result.cached and result.attempts == 1
    assert srv.auth == ["Bearer sk-test-123"]
    assert srv.requests[0]["model"] == "m" and srv.requests[0]["messages"] == MESSAGES


def test_missing_key_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_EVAL_KEY_ABSENT", raising=False)
    with Server() as srv, ChatClient(make_cfg(srv.url, tmp_path, api_key_env="TEST_EVAL_KEY_ABSENT")) as client:
        with pytest.raises(OpenAIError, match="TEST_EVAL_KEY_ABSENT"):
            client.complete(MESSAGES)
    assert srv.requests == []


def test_retries_429_and_500_then_succeeds(tmp_path):
    script = [(429, {}, {"error": "rate"}), (500, {}, {"error": "boom"}), (503, {}, "unavailable")]
    sleeps: list[float] = []
    with Server(script) as srv, ChatClient(make_cfg(srv.url, tmp_path), sleep=sleeps.append) as client:
        result = client.complete(MESSAGES)
    assert result.text == ANSWER and result.attempts == 4
    assert len(srv.requests) == 4
    # Exponential backoff without Retry-After: base * 2**attempt, capped at backoff_max_s.
    assert sleeps == [0.01, 0.02, 0.04]


def test_retry_after_is_honoured(tmp_path):
    script = [(429, {"Retry-After": "1"}, {"error": "slow down"})]
    with Server(script) as srv, ChatClient(make_cfg(srv.url, tmp_path)) as client:
        t0 = time.monotonic()
        result = client.complete(MESSAGES)
        waited = time.monotonic() - t0
    assert result.text == ANSWER and len(srv.requests) == 2
    assert waited >= 0.95  # the header said 1 s, far more than the 0.01 s computed backoff


def test_retry_after_http_date():
    now = 1_700_000_000.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now=now) == pytest.approx(10.0)
    assert parse_retry_after("3.5") == 3.5 and parse_retry_after("garbage") is None


def test_gives_up_after_max_retries_and_does_not_retry_400(tmp_path):
    with Server(default=(500, {}, {"error": "down"})) as srv, \
            ChatClient(make_cfg(srv.url, tmp_path, max_retries=2), sleep=lambda s: None) as client:
        with pytest.raises(OpenAIError, match="gave up after 3 attempts"):
            client.complete(MESSAGES)
    assert len(srv.requests) == 3
    with Server(default=(400, {}, {"error": "bad model"})) as srv, \
            ChatClient(make_cfg(srv.url, tmp_path, max_retries=5), sleep=lambda s: None) as client:
        with pytest.raises(OpenAIError, match="400") as info:
            client.complete(MESSAGES)
    assert info.value.status == 400 and len(srv.requests) == 1


def test_cache_hit_on_rerun_sends_nothing(tmp_path):
    with Server() as srv:
        with ChatClient(make_cfg(srv.url, tmp_path)) as client:
            first = client.complete(MESSAGES)
        with ChatClient(make_cfg(srv.url, tmp_path)) as client:   # a new process would do the same
            again = client.complete(MESSAGES)
            other_sample = client.complete(MESSAGES, sample_index=1)
    assert not first.cached and again.cached and again.text == first.text and again.attempts == 0
    assert not other_sample.cached
    assert len(srv.requests) == 2          # the rerun of sample 0 never reached the server
    assert [r["seed"] for r in srv.requests] == [0, 1]


def test_failed_answers_are_not_cached(tmp_path):
    with Server(default=(500, {}, "down")) as srv, \
            ChatClient(make_cfg(srv.url, tmp_path, max_retries=0), sleep=lambda s: None) as client:
        with pytest.raises(OpenAIError):
            client.complete(MESSAGES)
    with Server() as srv, ChatClient(make_cfg(srv.url, tmp_path)) as client:
        assert not client.complete(MESSAGES).cached
    assert len(srv.requests) == 1


def test_concurrency_limit(tmp_path):
    with Server(delay_s=0.2) as srv, ChatClient(make_cfg(srv.url, tmp_path, max_concurrency=2)) as client:
        reqs = [([{"role": "user", "content": f"p{i}"}], 0) for i in range(6)]
        results = client.complete_many(reqs)
    assert all(not isinstance(r, Exception) for r in results)
    assert len(srv.requests) == 6
    assert srv.peak == 2   # parallel, but never more than the limit


def test_openai_optimizer_six_prompts_and_unparseable_answer(tmp_path):
    task = Task("t1", "n = int(input())\nprint(sum(range(n + 1)))\n", None, [TestCase("3\n", "6\n")])
    # The first answer carries no code; the other five are the recorded completion.
    script = [(200, {}, completion("I cannot help with that."))]
    with Server(script) as srv, ChatClient(make_cfg(srv.url, tmp_path, max_concurrency=1)) as client:
        proposals = openai_optimizer(client, PROMPT_CONFIGS).propose([task])
    cands = proposals["t1"]
    assert [c.config for c in cands] == list(PROMPT_CONFIGS)
    assert cands[0].code is None and "no Python code" in cands[0].detail
    assert all(c.code == FAST_PROGRAM for c in cands[1:])
    assert len(srv.requests) == 6
    sent = [r["messages"][-1]["content"] for r in srv.requests]
    assert all(task.original_code.strip() in s for s in sent)
    assert len(set(sent)) == 6   # six distinct prompts


def test_hydra_optimizer_uses_the_training_template(tmp_path):
    """The served model is asked exactly as it was trained (prefs.prompt.render_messages with the
    weights) at each weight vector, and its fenced answer is read back with the training parser."""
    prompt = pytest.importorskip("hydra_ray.prefs.prompt")
    from hydra_ray.evaluate.optimizers import hydra_optimizer

    task = Task("t1", "n = int(input())\nprint(sum(range(n + 1)))\n", None, [TestCase("3\n", "6\n")])
    answer = prompt.render_completion(FAST_PROGRAM)[0]["content"]
    weights = [(1.0, 0, 0, 0, 0), (0.2, 0.2, 0.2, 0.2, 0.2)]
    with Server(default=(200, {}, completion(answer))) as srv, \
            ChatClient(make_cfg(srv.url, tmp_path, max_concurrency=1)) as client:
        cands = hydra_optimizer(client, weights).propose([task])["t1"]
    assert [c.config for c in cands] == ["w=1,0,0,0,0", "w=0.2,0.2,0.2,0.2,0.2"]
    assert [c.weights for c in cands] == [tuple(w) for w in weights]
    assert all(c.code.strip() == FAST_PROGRAM.strip() for c in cands)
    assert [r["messages"] for r in srv.requests] == [prompt.render_messages(task.original_code, w) for w in weights]


def test_evaluate_stops_before_measuring_when_no_request_is_answered(tmp_path):
    """`hydra-ray evaluate --optimizer openai` without the key: the reason is on the terminal (not only in
    candidates.jsonl), nothing is measured or tabulated, and the exit status says it failed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "HYDRA_TEST_ABSENT_KEY")}
    r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "evaluate", "--suite", "patterns", "--optimizer",
                        "openai", "--output", "out", "patterns.names=[bubble_sort]", "patterns.sizes=[small]",
                        "openai.api_key_env=HYDRA_TEST_ABSENT_KEY", f"openai.cache_dir={tmp_path / 'cache'}"],
                       cwd=tmp_path, env={**env, "PYTHONPATH": str(repo)}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "6 of 6 candidate(s) have no code: request failed: environment variable HYDRA_TEST_ABSENT_KEY" in r.stderr
    assert "nothing to measure" in r.stderr and "[1/1]" not in r.stderr
    assert (tmp_path / "out" / "candidates.jsonl").is_file() and not (tmp_path / "out" / "table.md").exists()


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:   # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_an_endpoint_never_reached_is_given_up_on_once_not_per_request(tmp_path):
    """No service on the port (or no network): one request spends its retries, the rest fail at once
    with the reason, instead of each waiting out its own backoff (hours over a HumanEval run)."""
    cfg = make_cfg(_closed_port_url(), tmp_path, max_retries=2, max_concurrency=1)
    with ChatClient(cfg) as client:
        out = client.complete_many([(MESSAGES, i) for i in range(5)])
    assert all(isinstance(o, OpenAIError) for o in out)
    assert client.requests_sent == 3, client.requests_sent
    assert all("was never reached" in str(o) and "ConnectError" in str(o) and "is the service running" in str(o)
               for o in out)


def test_a_service_that_answered_then_went_away_is_retried_per_request(tmp_path):
    srv = Server()
    with srv:
        client = ChatClient(make_cfg(srv.url, tmp_path, max_retries=2, max_concurrency=1))
        client.complete(MESSAGES)
    out = client.complete_many([(MESSAGES, i) for i in range(1, 3)])   # the server is gone now
    client.close()
    assert all(isinstance(o, OpenAIError) and "gave up after 3 attempts" in str(o) for o in out)
    assert client.requests_sent == 1 + 2 * 3


def test_evaluate_against_no_service_says_so_in_seconds(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "hydra_ray", "evaluate", "--suite", "patterns", "--optimizer", "hydra",
                        "--output", "out", "patterns.names=[bubble_sort]", "patterns.sizes=[small]",
                        f"openai.base_url={_closed_port_url()}", "openai.api_key_env=", "openai.max_retries=2",
                        "openai.backoff_base_s=0.5", f"openai.cache_dir={tmp_path / 'cache'}"],
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2, r.stderr
    assert "was never reached" in r.stderr and "is the service running there" in r.stderr, r.stderr
    # One request's backoff (0.5 + 1 s), not each of the six prompts' in turn.
    assert time.monotonic() - t0 < 30
