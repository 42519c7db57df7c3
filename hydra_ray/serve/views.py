"""Request checks and response bodies of the HTTP API (pure: no Ray, no FastAPI).

Every rejected request raises :class:`ApiError` with an HTTP status, a machine-readable ``type``, the
request field it is about (``param``) and a message that says what was wrong and what to do. The body
follows OpenAI's error shape, so OpenAI clients show the message::

    {"error": {"message": "...", "type": "invalid_weights", "param": "weights", "code": 422}}
"""
from __future__ import annotations

from typing import Any, Sequence

from hydra_ray.data.programs import syntax_problem
from hydra_ray.data.schema import TestCase
from hydra_ray.serve.backends import GenResult
from hydra_ray.serve.config import LimitsSection
from hydra_ray.serve.verify import Evaluation, Report
from hydra_ray.serve.weights import Weights


class ApiError(Exception):
    def __init__(self, status: int, type_: str, message: str, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.type, self.message, self.param = status, type_, message, param
        self.headers = headers or {}   # e.g. Retry-After on a 503

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.status}}


def check_code(code: str, limits: LimitsSection, param: str = "code") -> None:
    size = len(code.encode("utf-8", "surrogatepass"))
    if size > limits.max_code_bytes:
        raise ApiError(413, "code_too_large", f"{param} is {size:,} bytes; the limit is {limits.max_code_bytes:,} "
                       "bytes (limits.max_code_bytes)", param)
    if not code.strip():
        raise ApiError(422, "empty_code", f"{param} is empty; send the program's source", param)
    problem = syntax_problem(code)
    if problem:
        raise ApiError(422, "syntax_error", f"{param} does not parse as Python 3: {problem}", param)


def check_io(tests: Sequence[TestCase], inputs: Sequence[str], limits: LimitsSection) -> None:
    if len(tests) > limits.max_tests:
        raise ApiError(413, "too_many_tests", f"{len(tests)} tests; the limit is {limits.max_tests} "
                       "(limits.max_tests)", "tests")
    if len(inputs) > limits.max_inputs:
        raise ApiError(413, "too_many_inputs", f"{len(inputs)} inputs; the limit is {limits.max_inputs} "
                       "(limits.max_inputs)", "inputs")
    sizes = {"tests": sum(len(t.input) + len(t.expected or "") for t in tests), "inputs": sum(map(len, inputs))}
    total = sum(sizes.values())
    if total > limits.max_io_bytes:
        sent = [name for name, size in sizes.items() if size]
        what = " and ".join(sent) + (" together" if len(sent) > 1 else "")
        raise ApiError(413, "io_too_large", f"{what} hold {total:,} characters; the limit is {limits.max_io_bytes:,} "
                       "(limits.max_io_bytes)", max(sizes, key=sizes.get))


def bounded(value: int | None, default: int, limit: int, param: str, what: str) -> int:
    if value is None:
        return default
    if value > limit:
        raise ApiError(422, "limit_exceeded", f"{param}={value} is above this server's maximum of {limit} {what}",
                       param)
    return value


# ---- response bodies -----------------------------------------------------------------------------

def program_view(r: Report) -> dict[str, Any]:
    return {"verdict": r.verdict, "detail": r.detail, "tests_passed": r.tests_passed, "tests_total": r.tests_total,
            "metrics": r.metrics, "peak_memory_net_kb": r.peak_memory_net_kb, "stderr_tail": r.stderr_tail,
            "measure_mode": r.mode or None, "measure_mode_reason": r.mode_reason, "cpu_speed_cv": r.cpu_speed_cv}


def candidate_view(r: Report, rank: int, completion: str, finish_reason: str) -> dict[str, Any]:
    s = r.score
    return {**program_view(r), "index": r.index, "rank": rank, "code": r.code, "completion": completion,
            "finish_reason": finish_reason, "beats_original": bool(s and s.beats_original),
            "reward": s.reward if s else None, "original_reward": s.original_reward if s else None,
            "margin": s.margin if s else None, "significant": dict(s.significant) if s else {},
            "ratios": dict(s.ratios) if s else {}, "duplicate_of": r.duplicate_of}


def _waiting(calls: dict[str, float] | None, gen, sandbox_s: float) -> dict[str, float]:
    """How long the request waited for a free replica (queued behind other requests, routed): its calls'
    time less the work done in them. Without it a busy service's 30 s answer read as 30 s of overhead."""
    if not calls or "verification_call_s" not in calls or "generation_call_s" not in calls:
        return {}
    waited = (calls["verification_call_s"] - sandbox_s) + (calls["generation_call_s"] - gen.seconds)
    return {"waiting_s": max(0.0, waited)}


def optimize_view(original_code: str, weights: Weights, ev: Evaluation, gen: GenResult, prepared_seconds: float,
                  n_given: int, n_differential: int, total_s: float, verification_info: dict[str, Any],
                  calls: dict[str, float] | None = None) -> dict:
    """``calls``: wall time of the ingress's calls to each deployment; minus the work time reported from
    inside the replica, it is routing + queueing (+ the batch wait, for generation)."""
    by_index = {r.index: r for r in ev.candidates}
    ranks = {i: k + 1 for k, i in enumerate(ev.order)}
    candidates = [candidate_view(by_index[i], ranks[i], gen.generations[i].text, gen.generations[i].finish_reason)
                  for i in ev.order]
    best_code = by_index[ev.best].code if ev.best is not None else original_code
    sandbox_s = prepared_seconds + ev.seconds
    return {
        "best": {"improved": ev.best is not None, "index": ev.best, "code": best_code, "reason": ev.reason},
        "weights": weights.as_dict(), "preset": weights.preset,
        "original": program_view(ev.original),
        "candidates": candidates,
        "verification": {"tests": n_given, "differential_inputs": n_differential, **verification_info},
        "generation": {"backend": gen.backend, "n": len(gen.generations), "prompt_tokens": gen.prompt_tokens,
                       "completion_tokens": [g.completion_tokens for g in gen.generations],
                       **batch_view(gen)},
        "timings": {"total_s": total_s, "generation_s": gen.seconds, "sandbox_s": sandbox_s,
                    "overhead_s": total_s - gen.seconds - sandbox_s, **(calls or {}), **_waiting(calls, gen, sandbox_s)},
    }


def batch_view(gen: GenResult) -> dict[str, Any]:
    """batch_size: requests handed to the backend together (generation_s is their batch's time);
    decoded_with (model backend): requests in this one's generate() call, 1 for a seeded request."""
    decoded = gen.info.get("decoded_with")
    return {"batch_size": gen.batch_size, **({"decoded_with": decoded} if decoded is not None else {})}


def chat_view(request_id: str, created: int, model: str, gen: GenResult, weights: Weights | None) -> dict[str, Any]:
    completion_tokens = sum(g.completion_tokens for g in gen.generations)
    return {
        "id": request_id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": i, "message": {"role": "assistant", "content": g.text},
                     "finish_reason": g.finish_reason, "logprobs": None} for i, g in enumerate(gen.generations)],
        "usage": {"prompt_tokens": gen.prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": gen.prompt_tokens + completion_tokens},
        "hydra": {"weights": weights.as_dict() if weights else None, "backend": gen.backend,
                  "generation_s": gen.seconds, **batch_view(gen)},
    }


def message_text(content: Any) -> str:
    """OpenAI message content: a string, or a list of parts of which the text ones count."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
