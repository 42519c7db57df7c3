"""Request and response bodies of the HTTP API (pydantic models; they are also the OpenAPI schema).

Requests are strict about unknown fields (a misspelt ``n_candiates`` is a 422 naming it), except the
OpenAI-compatible chat request, whose clients send many optional fields this server ignores.
Weights are typed loosely here on purpose: :mod:`hydra_ray.serve.weights` checks them and says
precisely what is wrong, where a union type would give a generic validation error.
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

WEIGHTS_DOC = ("objective weights: {\"runtime\": 0.7, \"memory\": 0.3} (names: latency/runtime, memory, "
               "cycles/cpu, throughput, energy; missing ones are 0) or a list of 5 numbers in that order; "
               ">= 0, summing to 1")


# Constraints the service enforces itself, with a precise message (views.require_code, the chat
# route's role check), declared in the schema too so that clients and generated SDKs know them.
NON_BLANK = {"minLength": 1, "pattern": r"\S"}
CHAT_ROLE_NAMES = ["system", "developer", "user", "assistant"]


class Strict(BaseModel):
    # strict: `"stream": 0` or `"n": "2"` are not the booleans and integers the schema declares.
    model_config = ConfigDict(extra="forbid", strict=True)


class TestCaseIn(Strict):
    input: str = Field("", description="standard input")
    expected: str = Field(..., description="expected standard output (whitespace-tolerant comparison)")


class OptimizeRequest(Strict):
    code: str = Field(..., description="the Python program to optimise (reads stdin, writes stdout); not blank",
                      json_schema_extra=NON_BLANK)
    tests: Optional[list[TestCaseIn]] = Field(None, description="tests every candidate must pass")
    inputs: Optional[list[str]] = Field(None, description="stdin inputs for differential testing: a candidate "
                                        "must print what the original prints (empty stdin when no tests/inputs)")
    weights: Any = Field(None, description=WEIGHTS_DOC, examples=[{"runtime": 0.7, "memory": 0.3}])
    preset: Optional[str] = Field(None, description="named weights instead of weights: runtime, memory, cycles, "
                                  "throughput, energy, balanced, runtime+memory, green", examples=["runtime"])
    n_candidates: Optional[int] = Field(None, ge=1, description="candidates to generate (server default and "
                                        "maximum apply)")
    max_new_tokens: Optional[int] = Field(None, ge=1)
    temperature: Optional[float] = Field(None, ge=0.0, le=5.0)
    seed: Optional[int] = None
    float_tol: Optional[float] = Field(None, gt=0.0, description="tolerance for float tokens in outputs")


class ProfileRequest(Strict):
    code: str = Field(..., description="the Python program to run and measure; not blank",
                      json_schema_extra=NON_BLANK)
    tests: Optional[list[TestCaseIn]] = None
    inputs: Optional[list[str]] = Field(None, description="stdin inputs run without an expected output")
    float_tol: Optional[float] = Field(None, gt=0.0)


class MetricOut(BaseModel):
    value: Optional[float]
    unit: str
    source: str
    estimated: bool
    n: int
    iqr: Optional[float]


class ProgramOut(BaseModel):
    verdict: str = Field(..., description="passed, wrong_answer, runtime_error, timeout, memory_limit, "
                         "output_limit, sandbox_error; for candidates also rejected (no code / does not "
                         "parse), unchanged (the original returned, possibly reformatted: the same syntax tree), "
                         "duplicate (the same syntax tree as an earlier candidate)")
    detail: str
    tests_passed: int
    tests_total: int
    metrics: dict[str, MetricOut] = Field(..., description="by column: latency_ms, peak_memory_kb, cpu_cycles, "
                                          "throughput_per_s, energy_j")
    peak_memory_net_kb: Optional[float] = None
    stderr_tail: str = ""
    measure_mode: Optional[str] = Field(None, description="how it was measured: process, inprocess or function "
                                        "(profile.mode, or the fallback it needed)")
    measure_mode_reason: str = Field("", description="why the mode differs from profile.mode, if it does")
    cpu_speed_cv: Optional[float] = Field(None, description="how much the node's CPU speed moved while this "
                                          "program was timed (CV of the profiler's speed probe; above 0.05 the "
                                          "latency spread is partly the machine's); null if not timed")


class CandidateOut(ProgramOut):
    index: int = Field(..., description="order of generation")
    rank: int = Field(..., description="1 = best")
    code: Optional[str]
    completion: str = Field(..., description="the model's answer the code was extracted from")
    finish_reason: str
    beats_original: bool
    reward: Optional[float] = None
    original_reward: Optional[float] = None
    margin: Optional[float] = Field(None, description="reward - original_reward under the request's weights")
    significant: dict[str, bool] = Field(default_factory=dict)
    ratios: dict[str, Optional[float]] = Field(default_factory=dict, description="candidate / original medians")
    duplicate_of: Optional[int] = None


class BestOut(BaseModel):
    improved: bool = Field(..., description="false: nothing beat the original, code is the original")
    index: Optional[int]
    code: str
    reason: str


class OptimizeResponse(BaseModel):
    best: BestOut
    weights: dict[str, float]
    preset: Optional[str]
    original: ProgramOut
    candidates: list[CandidateOut] = Field(..., description="every candidate, best first")
    verification: dict[str, Any]
    generation: dict[str, Any] = Field(..., description="backend, n, prompt_tokens, completion_tokens, batch_size "
                                       "(requests handed to the backend together: generation_s is their batch's "
                                       "time), decoded_with (model backend: requests decoded in the same generate "
                                       "call as this one; 1 for a request with a seed)")
    timings: dict[str, float] = Field(..., description="seconds: total_s (in the ingress), generation_s (the "
                                      "backend call this request was part of: with batching, the whole batch's "
                                      "time), sandbox_s (verification work), overhead_s = total - generation - "
                                      "sandbox; generation_call_s and verification_call_s (the ingress's calls, "
                                      "including routing, queueing and the batch wait); waiting_s: what those calls spent other "
                                      "than on this request's work (queued behind other requests for a free replica)")


class ProfileResponse(ProgramOut):
    isolation: str
    seconds: float


class ErrorBody(BaseModel):
    message: str
    type: str
    param: Optional[str] = None
    code: int


class ErrorResponse(BaseModel):
    error: ErrorBody


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model: str
    generation: dict[str, Any]
    verification: dict[str, Any]


# ---- OpenAI-compatible chat ----------------------------------------------------------------------

class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: str = Field(..., description="who speaks; developer is read as system",
                      json_schema_extra={"enum": CHAT_ROLE_NAMES})
    content: Union[str, list[dict[str, Any]], None] = None


class ChatRequest(BaseModel):
    # OpenAI clients send fields this server does not use; those it uses are typed strictly.
    model_config = ConfigDict(extra="allow", strict=True)
    model: Optional[str] = None
    messages: list[ChatMessage] = Field(..., min_length=1)
    temperature: Optional[float] = Field(None, ge=0.0, le=2.0)
    top_p: Optional[float] = Field(None, gt=0.0, le=1.0)
    max_tokens: Optional[int] = Field(None, ge=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1)
    n: Optional[int] = Field(None, ge=1)
    seed: Optional[int] = None
    stream: Optional[bool] = None
    weights: Any = Field(None, description="hydra extension: " + WEIGHTS_DOC + "; re-renders the training "
                         "prompt around the program in the last user message")
    preset: Optional[str] = Field(None, description="hydra extension: named weights instead of weights")
