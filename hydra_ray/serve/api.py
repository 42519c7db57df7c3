"""The HTTP ingress: a FastAPI app served by the ``HydraAPI`` deployment.

Routes (OpenAPI schema at ``/openapi.json``; ``/docs``: Swagger UI from its CDN, or offline a plain list
of the routes, :mod:`hydra_ray.serve.docs_page`):

* ``POST /v1/optimize`` — code (+ tests / inputs) and weights in; every candidate with its verdict,
  metrics and score out, plus the best one (or the original, saying why nothing beat it);
* ``POST /v1/profile`` — verdict and five metrics of one program;
* ``POST /v1/chat/completions`` — OpenAI-compatible generation (``weights``/``preset`` extension);
  ``stream: true`` answers with server-sent events (:mod:`hydra_ray.serve.streaming`);
  ``GET /v1/models``;
* ``GET /healthz`` — ready once both worker deployments have answered (the model is loaded, the sandbox
  calibrated); the answer is then cached: replica liveness is Serve's own health checking.

Every request body is held to ``limits.max_body_bytes`` as it is read (:mod:`hydra_ray.serve.body_limit`).
Request flow of ``/v1/optimize``: validate (size, syntax, weights, limits) → verifier.prepare (the
original on the tests/inputs: a failing original is a 422 before any generation is spent) →
generator.generate (the training prompt, :func:`hydra_ray.prefs.prompt.render_messages`) →
extract code → verifier.evaluate (sandbox, profiler, scores) → response. Every 4xx has the body
described in :mod:`hydra_ray.serve.views`.
"""
# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime, and Serve's
# ingress re-wraps the methods, so string annotations would not resolve (bodies became query params).
import asyncio
import math
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from ray import serve
from ray.exceptions import RayError
from ray.serve.exceptions import BackPressureError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hydra_ray import __version__
from hydra_ray.data.programs import syntax_problem
from hydra_ray.data.schema import TestCase
from hydra_ray.prefs.prompt import extract_code, render_messages
from hydra_ray.serve import schemas as S
from hydra_ray.serve.backends import GenRequest, GenResult
from hydra_ray.serve.body_limit import BodyLimit
from hydra_ray.serve.config import ServiceConfig
from hydra_ray.serve.deployments import Failure
from hydra_ray.serve.docs_page import OFFLINE_NOTE, docs_page
from hydra_ray.serve.streaming import chat_events
from hydra_ray.serve.telemetry import metrics
from hydra_ray.serve.views import (ApiError, bounded, chat_view, check_code, check_io, message_text, optimize_view,
                                   program_view)
from hydra_ray.serve.weights import PRESETS, Weights, WeightsError, parse_weights

ERRORS = {code: {"model": S.ErrorResponse} for code in (400, 413, 415, 422, 502, 503, 504)}
# "stream": true answers with server-sent events (hydra_ray.serve.streaming), not the JSON body; the
# schema is one event's, as OpenAPI tools read text/event-stream.
STREAMED = {"content": {"text/event-stream": {"schema": {
    "type": "object", "properties": {"data": {"type": "string", "description": "a chat.completion.chunk as JSON; "
                                              "the last event is [DONE]"}}}}}}
CHAT_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}

app = FastAPI(title="hydra-ray", version=__version__, docs_url=None,   # /docs below: usable offline too
              description="Optimise Python programs for runtime, memory, CPU cycles, throughput and energy, "
                          "steered by preference weights; every candidate is verified in a sandbox and measured. "
                          + OFFLINE_NOTE)
app.add_middleware(BodyLimit)   # before the metrics middleware below, which then counts its 413s


def _is_json(content_type: str) -> bool:
    """As FastAPI decides whether to parse a body as JSON: application/json or application/*+json."""
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _error(status: int, type_: str, message: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(ApiError(status, type_, message, param).body(), status_code=status)


@app.exception_handler(ApiError)
async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    for e in errors:
        if e.get("type") == "json_invalid":
            why = (e.get("ctx") or {}).get("error", "")
            pos = e["loc"][1] if len(e.get("loc", ())) > 1 else "?"
            return _error(400, "invalid_json", f"request body is not valid JSON: {why} (at character {pos})")
    if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "missing" for e in errors):
        return _error(400, "missing_body", "request body is missing; send a JSON object (Content-Type: "
                                           "application/json)")
    sent = request.headers.get("content-type", "")
    if sent and not _is_json(sent) and any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        # FastAPI parses JSON only when the Content-Type says so (curl -d sends a form's type).
        return _error(415, "unsupported_media_type", f"request body was sent as Content-Type: {sent}, so it was "
                      "not read as JSON; send it with Content-Type: application/json (curl: -H 'Content-Type: "
                      "application/json')")
    whole = [e for e in errors if tuple(e.get("loc", ())) == ("body",)
             and e.get("type") in ("model_attributes_type", "dict_type")]
    if whole:   # valid JSON, but not an object (an array, a string, a number)
        got = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(
            type(whole[0].get("input")), "a number")
        return _error(422, "invalid_request", f"request body is valid JSON but {got}; send a JSON object of the request's "
                      'fields, e.g. {"code": "...", "preset": "runtime"} (GET /docs lists them)', "body")
    parts, first = [], None
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        param = ".".join(loc) or "body"
        first = first or param
        msg = "unknown field (not part of this API)" if e.get("type") == "extra_forbidden" else e.get("msg", "")
        parts.append(f"{param}: {msg}")
    return _error(422, "invalid_request", "; ".join(parts), first)


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    hint = " (routes: POST /v1/optimize, POST /v1/profile, POST /v1/chat/completions, GET /healthz, " \
           "GET /docs)" if exc.status_code in (404, 405) else ""
    response = _error(exc.status_code, "http_error", f"{exc.detail}: {request.method} {request.url.path}{hint}")
    # Starlette puts the route's methods in the 405's headers ("Allow", RFC 9110 §15.5.6): keep them.
    for name, value in (getattr(exc, "headers", None) or {}).items():
        response.headers[name] = value
    if exc.status_code == 405 and "allow" not in response.headers:
        methods = sorted({m for r in request.app.routes if getattr(r, "path", None) == request.url.path
                          for m in (getattr(r, "methods", None) or ())})
        if methods:
            response.headers["Allow"] = ", ".join(methods)
    return response


@app.middleware("http")
async def _metrics(request: Request, call_next):
    response = await call_next(request)
    route = request.scope.get("route")
    metrics().requests.inc(tags={"route": getattr(route, "path", "other"), "status": str(response.status_code)})
    return response


@app.get("/docs", include_in_schema=False)
async def _docs(request: Request) -> HTMLResponse:
    return HTMLResponse(docs_page(request.app.openapi(), request.scope.get("root_path", ""), request.app.openapi_url))


def _weights(weights: Any, preset: str | None, default: str | None) -> Weights:
    try:
        return parse_weights(weights, preset, default_preset=default)
    except WeightsError as e:
        kind = "unknown_preset" if e.field == "preset" and str(e).startswith("unknown preset") else "invalid_weights"
        raise ApiError(422, kind, str(e), e.field) from None


def _saturated(what: str, e: BackPressureError) -> ApiError:
    """503 with Retry-After: every replica of the deployment is busy and its queue is full."""
    section = "generation" if what.startswith("generation") else "verification"
    retry = getattr(e, "retry_after_s", None)
    return ApiError(503, "overloaded", f"the service is at capacity: every {what} replica is busy and "
                    f"deployments.{section}.max_queued_requests requests are waiting already ({e}); retry "
                    + (f"in {math.ceil(retry)} s" if retry is not None else "later"),
                    headers={"Retry-After": str(math.ceil(retry))} if retry is not None else None)


@serve.deployment(name="HydraAPI")
@serve.ingress(app)
class HydraAPI:
    def __init__(self, generator, verifier, cfg: ServiceConfig):
        self.generator, self.verifier, self.cfg = generator, verifier, cfg
        # absolutize() pinned it to what the adapter was trained with (hydra_ray.prefs.prompt).
        self._conditioning = cfg.model.prompt_conditioning or "weights"
        app.state.max_body_bytes = cfg.limits.max_body_bytes
        self._info: dict[str, Any] = {}

    # ---- helpers -------------------------------------------------------------------------------
    async def _call(self, what: str, response, timeout: float | None = None, setting: str = "generation.timeout_s"):
        try:
            return await asyncio.wait_for(response, timeout) if timeout else await response
        except asyncio.TimeoutError:
            response.cancel()
            raise ApiError(504, "timeout", f"{what} took longer than {timeout:g} s ({setting})") from None
        except BackPressureError as e:   # before RayError: a RayTaskError wrapping one is an instance of both
            raise _saturated(what, e) from None
        except RayError as e:
            raise ApiError(503, "unavailable", f"{what} failed: {type(e).__name__}: {str(e)[:500]}") from None

    async def _verify(self, response):
        """A Verifier call, bounded by verification.timeout_s (its sandbox work stops when it fires)."""
        return await self._call("verification", response, self.cfg.verification.timeout_s, "verification.timeout_s")

    async def _generate(self, request: GenRequest) -> GenResult:
        result = await self._call("generation", self.generator.generate.remote(request),
                                  self.cfg.generation.timeout_s)
        if result.error:
            raise ApiError(502, "generation_failed", f"the generation backend could not answer: {result.error}")
        return result

    async def _describe(self) -> dict[str, Any]:
        if not self._info:
            gen, ver = await asyncio.gather(
                self._call("generation deployment", self.generator.describe.remote(), 30, "health check"),
                self._call("verification deployment", self.verifier.describe.remote(), 30, "health check"))
            self._info = {"generation": gen, "verification": ver}
        return self._info

    # ---- routes ----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index(self) -> dict[str, Any]:
        return {"service": "hydra-ray", "version": __version__, "docs": "/docs", "openapi": "/openapi.json",
                "routes": ["POST /v1/optimize", "POST /v1/profile", "POST /v1/chat/completions", "GET /v1/models",
                           "GET /healthz"], "presets": sorted(PRESETS)}

    @app.get("/healthz", response_model=S.HealthResponse, responses=ERRORS,
             summary="ready: the model is loaded and the sandbox calibrated")
    async def healthz(self) -> dict[str, Any]:
        info = await self._describe()
        return {"status": "ok", "model": self.cfg.served_model_name, **info}

    @app.post("/v1/optimize", response_model=None, responses={200: {"model": S.OptimizeResponse}, **ERRORS},
              summary="optimise a program: every candidate verified and measured, the best one or the original")
    async def optimize(self, req: S.OptimizeRequest) -> dict[str, Any]:
        t0 = time.perf_counter()
        cfg, g = self.cfg, self.cfg.generation
        check_code(req.code, cfg.limits)
        tests = [TestCase(t.input, t.expected) for t in req.tests or []]
        inputs = list(req.inputs or [])
        check_io(tests, inputs, cfg.limits)
        weights = _weights(req.weights, req.preset, "balanced")
        n = bounded(req.n_candidates, g.n_candidates, g.max_candidates, "n_candidates", "candidates")
        max_new = bounded(req.max_new_tokens, g.max_new_tokens, g.max_new_tokens_limit, "max_new_tokens", "tokens")
        t_prep = time.perf_counter()
        prepared = await self._verify(self.verifier.prepare.remote(req.code, tests, inputs, req.float_tol))
        calls = {"verification_call_s": time.perf_counter() - t_prep}
        if isinstance(prepared, Failure):
            raise ApiError(422, prepared.kind, prepared.message, "tests" if tests else "inputs")
        temperature = g.temperature if req.temperature is None else req.temperature
        t_gen = time.perf_counter()
        gen = await self._generate(GenRequest.of(render_messages(req.code, weights.values, self._conditioning), n=n, max_new_tokens=max_new,
                                                 temperature=temperature, top_p=g.top_p, seed=req.seed))
        calls["generation_call_s"] = time.perf_counter() - t_gen
        codes = [extract_code(x.text) for x in gen.generations]
        t_eval = time.perf_counter()
        ev = await self._verify(self.verifier.evaluate.remote(prepared, codes, list(weights.values)))
        calls["verification_call_s"] += time.perf_counter() - t_eval
        for r in ev.candidates:
            metrics().verdicts.inc(tags={"verdict": r.verdict})
        info = (await self._describe())["verification"]
        return optimize_view(req.code, weights, ev, gen, prepared.seconds, prepared.n_given, prepared.n_differential,
                             time.perf_counter() - t0, {"isolation": info.get("isolation")}, calls)

    @app.post("/v1/profile", response_model=None, responses={200: {"model": S.ProfileResponse}, **ERRORS},
              summary="verdict and five metrics of one program")
    async def profile(self, req: S.ProfileRequest) -> dict[str, Any]:
        check_code(req.code, self.cfg.limits)
        tests = [TestCase(t.input, t.expected) for t in req.tests or []]
        inputs = list(req.inputs or [])
        check_io(tests, inputs, self.cfg.limits)
        report, seconds = await self._verify(self.verifier.profile.remote(req.code, tests, inputs, req.float_tol))
        info = (await self._describe())["verification"]
        return {**program_view(report), "isolation": info.get("isolation"), "seconds": seconds}

    @app.get("/v1/models", summary="the served model (OpenAI's list)")
    async def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.cfg.served_model_name, "object": "model", "created": 0,
                                            "owned_by": "hydra-ray"}]}

    @app.post("/v1/chat/completions", response_model=None, responses={200: STREAMED, **ERRORS},
              summary="OpenAI-compatible chat; weights/preset re-render the training prompt; stream: true for SSE")
    async def chat_completions(self, req: S.ChatRequest) -> dict[str, Any]:
        cfg, g = self.cfg, self.cfg.generation
        messages = []
        for i, m in enumerate(req.messages):
            if m.role not in CHAT_ROLES:
                raise ApiError(422, "invalid_request", f"messages[{i}].role: {m.role!r} is not supported; expected "
                               f"one of {sorted(CHAT_ROLES)}", f"messages[{i}].role")
            messages.append({"role": CHAT_ROLES[m.role], "content": message_text(m.content)})
        chars = sum(len(m["content"]) for m in messages)
        if chars > cfg.limits.max_prompt_chars:
            raise ApiError(413, "prompt_too_large", f"messages hold {chars:,} characters; the limit is "
                           f"{cfg.limits.max_prompt_chars:,} (limits.max_prompt_chars)", "messages")
        weights = None
        if req.weights is not None or req.preset is not None:
            weights = _weights(req.weights, req.preset, None)
            messages = render_messages(self._program_of(messages), weights.values, self._conditioning)
        n = bounded(req.n, 1, g.max_candidates, "n", "choices")
        max_new = bounded(req.max_completion_tokens or req.max_tokens, g.max_new_tokens, g.max_new_tokens_limit,
                          "max_tokens", "tokens")
        temperature = g.temperature if req.temperature is None else req.temperature
        greq = GenRequest.of(messages, n=n, max_new_tokens=max_new, temperature=temperature,
                             top_p=req.top_p or g.top_p, seed=req.seed)
        if req.stream:
            options = (req.model_extra or {}).get("stream_options") or {}
            return await self._stream(greq, bool(isinstance(options, dict) and options.get("include_usage")))
        gen = await self._generate(greq)
        return chat_view(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), cfg.served_model_name, gen, weights)

    async def _stream(self, greq: GenRequest, include_usage: bool) -> StreamingResponse:
        """Server-sent events; the first item is awaited here, so a request that fails before any text
        (no recorded answer, a dead replica, a timeout) still gets its HTTP error status."""
        items = self.generator.options(stream=True).stream.remote(greq)
        first = await self._call("generation", asyncio.ensure_future(items.__anext__()),
                                 self.cfg.generation.timeout_s)
        if isinstance(first, GenResult) and first.error:
            raise ApiError(502, "generation_failed", f"the generation backend could not answer: {first.error}")

        async def events():
            try:
                async for line in chat_events(items, f"chatcmpl-{uuid.uuid4().hex}", int(time.time()),
                                              self.cfg.served_model_name, include_usage, first):
                    yield line
            finally:
                items.cancel()   # the client went away, or the stream ended: nothing left to decode

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    def _program_of(self, messages: list[dict[str, str]]) -> str:
        users = [m for m in messages if m["role"] == "user"]
        text = users[-1]["content"] if users else ""
        code = extract_code(text)
        if code is None and text.strip() and syntax_problem(text) is None:
            code = text   # the whole message is the program
        if code is None:
            raise ApiError(422, "no_program", "weights were given, so the last user message must hold the program "
                           "to optimise (in a ```python block, or as the whole message)", "messages")
        check_code(code, self.cfg.limits, "messages")
        return code
