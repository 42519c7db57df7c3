"""A client for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ray Serve, llama.cpp …).

- Retries 429, 408 and 5xx answers and connection errors with exponential backoff; a ``Retry-After``
  header (seconds or an HTTP date) is honoured instead of the computed delay.
- An endpoint that was never reached (no service on the port, no network, a name that does not resolve)
  is given up on once one request has used its retries: the other requests fail at once with that
  reason. Each request retrying alone made a HumanEval run against a service that was not started wait
  hours (984 requests × 63 s of backoff, 4 at a time) before saying why. After one answer came back,
  a connection error is a service that went away, and every request retries on its own again.
- At most ``max_concurrency`` requests are in flight, however many threads call it.
- Every successful answer is stored on disk under a hash of the request (endpoint, model, messages,
  sampling settings, sample index), so rerunning an evaluation sends nothing that was answered before.
- Several samples per prompt are separate requests with ``seed = seed + index``: servers differ on
  support for ``n > 1`` and each sample gets its own cache entry.
"""
from __future__ import annotations

import email.utils
import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import httpx

from hydra_ray.config import Config, path_field, positive

RETRY_STATUS = frozenset({408, 409, 429})
Messages = Sequence[dict[str, str]]


@dataclass
class OpenAIConfig(Config):
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"   # name of the variable holding the key; "" = send no key
    temperature: float = 0.0
    max_tokens: int = 2048
    seed: int | None = 0
    timeout_s: float = 120.0
    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 600.0     # a longer Retry-After than this is an error, not a wait
    max_concurrency: int = 4
    cache_dir: str | None = path_field(".cache/hydra-ray/openai")

    def _check(self, errors: list[str]) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            errors.append(f"base_url: expected an http(s) URL, got {self.base_url!r}")
        if not self.model:
            errors.append("model: expected a model name, got an empty string")
        positive(errors, "temperature", self.temperature, allow_zero=True)
        positive(errors, "max_tokens", self.max_tokens)
        positive(errors, "timeout_s", self.timeout_s)
        positive(errors, "max_retries", self.max_retries, allow_zero=True)
        positive(errors, "backoff_base_s", self.backoff_base_s, allow_zero=True)
        positive(errors, "backoff_max_s", self.backoff_max_s, allow_zero=True)
        positive(errors, "retry_after_max_s", self.retry_after_max_s, allow_zero=True)
        positive(errors, "max_concurrency", self.max_concurrency)


class OpenAIError(RuntimeError):
    """A request that failed for good (after retries, or with a status that retrying cannot fix)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ChatResult:
    text: str
    cached: bool
    attempts: int        # HTTP requests sent for this answer (0 when it came from the cache)
    key: str             # cache key: sha256 of the request
    usage: dict[str, Any]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now_dt = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
    return max(0.0, (when - now_dt).total_seconds())


class ChatClient:
    def __init__(self, cfg: OpenAIConfig, *, sleep: Callable[[float], None] = time.sleep):
        self.cfg = cfg
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(cfg.max_concurrency)
        self._http = httpx.Client(timeout=cfg.timeout_s,
                                  limits=httpx.Limits(max_connections=cfg.max_concurrency))
        self._cache = Path(cfg.cache_dir) if cfg.cache_dir else None
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        self._answered = False               # an answer came back: the endpoint exists
        self._unreachable: str | None = None  # why the endpoint was never reached, once given up on

    # ---- request identity and cache ---------------------------------------------------------
    def body(self, messages: Messages, sample_index: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
        }
        if self.cfg.seed is not None:
            body["seed"] = self.cfg.seed + sample_index
        return body

    def cache_key(self, body: dict[str, Any], sample_index: int = 0) -> str:
        # The sample index is part of the key even without a seed: sample 2 is not sample 1 replayed.
        ident = {"url": self.cfg.base_url.rstrip("/"), "body": body, "sample": sample_index}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def _cache_path(self, key: str) -> Path | None:
        return self._cache / key[:2] / f"{key}.json" if self._cache else None

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        path = self._cache_path(key)
        if path is None or not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # a torn or foreign file: ask again and overwrite it

    def _cache_put(self, key: str, body: dict[str, Any], response: dict[str, Any]) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"request": body, "response": response}))
        os.replace(tmp, path)  # atomic: concurrent writers of one key leave one whole file

    # ---- HTTP ------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.cfg.api_key_env:
            key = os.environ.get(self.cfg.api_key_env)
            if not key:
                raise OpenAIError(f"environment variable {self.cfg.api_key_env} (openai.api_key_env) is not "
                                  "set; export the API key there, or set openai.api_key_env='' for a "
                                  "server that needs none")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = parse_retry_after(response.headers.get("Retry-After"))
            if after is not None:
                if after > self.cfg.retry_after_max_s:
                    raise OpenAIError(f"server asked to retry after {after:.0f} s, more than "
                                      f"openai.retry_after_max_s={self.cfg.retry_after_max_s}", response.status_code)
                return after
        return min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2 ** attempt)

    def _post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        url = self.cfg.base_url.rstrip("/") + "/chat/completions"
        headers = self._headers()
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            response = None
            with self._slots:
                if self._unreachable is not None:
                    raise OpenAIError(self._unreachable)
                with self._count_lock:
                    self.requests_sent += 1
                try:
                    response = self._http.post(url, json=body, headers=headers)
                except httpx.TransportError as e:
                    last = f"{type(e).__name__}: {e}"
            if response is not None:
                self._answered = True   # any HTTP answer: the endpoint is there
                status = response.status_code
                if status == 200:
                    try:
                        return response.json(), attempt + 1
                    except json.JSONDecodeError as e:
                        raise OpenAIError(f"{url}: answer is not JSON ({e}): {response.text[:200]!r}", 200) from e
                last = f"HTTP {status}: {response.text[:300]}"
                if status not in RETRY_STATUS and status < 500:
                    raise OpenAIError(f"{url}: {last}", status)
            if attempt < self.cfg.max_retries:
                self._sleep(self._delay(attempt, response))
        message = f"{url}: gave up after {self.cfg.max_retries + 1} attempts; last: {last}"
        if response is None and not self._answered:
            message = (f"{url} was never reached (gave up after {self.cfg.max_retries + 1} attempts; last: {last}); "
                       "is the service running there and openai.base_url right?")
            self._unreachable = message
        raise OpenAIError(message)

    # ---- public API ------------------------------------------------------------------------
    def complete(self, messages: Messages, *, sample_index: int = 0) -> ChatResult:
        body = self.body(messages, sample_index)
        key = self.cache_key(body, sample_index)
        hit = self._cache_get(key)
        if hit is not None:
            return ChatResult(_content(hit["response"]), True, 0, key, hit["response"].get("usage") or {})
        response, attempts = self._post(body)
        text = _content(response)
        self._cache_put(key, body, response)
        return ChatResult(text, False, attempts, key, response.get("usage") or {})

    def complete_many(self, requests: Sequence[tuple[Messages, int]]) -> list[ChatResult | OpenAIError]:
        """Answer (messages, sample_index) requests concurrently, in order; failures are returned,
        not raised, so one bad prompt does not lose the others."""
        def one(req: tuple[Messages, int]) -> ChatResult | OpenAIError:
            try:
                return self.complete(req[0], sample_index=req[1])
            except OpenAIError as e:
                return e

        with ThreadPoolExecutor(max_workers=self.cfg.max_concurrency) as pool:
            return list(pool.map(one, requests))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ChatClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _content(response: dict[str, Any]) -> str:
    try:
        content = response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as e:
        raise OpenAIError(f"answer has no choices[0].message.content: {json.dumps(response)[:300]}") from e
    return content or ""
