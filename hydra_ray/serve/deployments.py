"""The two worker deployments: generation (HF model, vLLM or recorded completions) and verification (sandbox).

They are separate so each scales on its own: generation wants GPUs and batches requests together
(``@serve.batch`` for the HF and recorded backends; vLLM batches continuously by itself);
verification is CPU-heavy and wants one measurement per reserved core. Both run their blocking work
in a thread so the replica's event loop keeps answering (health checks, queued calls).

Results cross the wire as dataclasses; expected failures (an original that fails its tests, a prompt
with no recorded completion) come back as :class:`Failure` values rather than exceptions, so the
ingress can map them to precise HTTP answers.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Sequence

from ray import serve

from hydra_ray.data.schema import TestCase
from hydra_ray.sandbox.cancel import CancelToken, cancelling
from hydra_ray.serve.backends import Delta, GenRequest, GenResult, make_backend
from hydra_ray.serve.config import ServiceConfig
from hydra_ray.serve.config_paths import resolve_data_path
from hydra_ray.serve.telemetry import metrics
from hydra_ray.serve.verify import Evaluation, OriginalFailed, Prepared, Report, VerificationEngine


@dataclass(frozen=True)
class Failure:
    kind: str          # "original_fails", …
    message: str


@serve.deployment(name="Generator")
class Generator:
    def __init__(self, cfg: ServiceConfig, num_cpus: float = 1.0):
        self.cfg = cfg
        self.backend = make_backend(cfg, num_cpus)
        self._batched.set_max_batch_size(cfg.batching.max_batch_size)
        self._batched.set_batch_wait_timeout_s(cfg.batching.batch_wait_timeout_s)

    async def generate(self, request: GenRequest) -> GenResult:
        if self.backend.is_async:
            result = await self.backend.agenerate(request)
        else:
            # Serve cancels this call when the client disconnects; the batch it joined runs on in a
            # thread for its other requests, so the event tells the backend to stop this one's rows.
            caller_gone = threading.Event()
            try:
                result = await self._batched((request, caller_gone))
            except asyncio.CancelledError:
                caller_gone.set()
                metrics().cancelled.inc()
                raise
        metrics().generation.observe(result.seconds)
        return result

    async def stream(self, request: GenRequest) -> AsyncIterator[Delta | GenResult]:
        """Call with ``handle.options(stream=True)``: the request's deltas as they are decoded, then its
        GenResult. Decoded alone (not through ``@serve.batch``) so that its first tokens come at once."""
        if self.backend.is_async:
            async for item in self.backend.astream(request):
                if isinstance(item, GenResult):
                    metrics().generation.observe(item.seconds)
                yield item
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        end = object()
        reader_gone = threading.Event()

        def pump() -> None:   # the backend's blocking iterator, in a thread
            try:
                for item in self.backend.stream(request, reader_gone):
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except BaseException as e:  # noqa: BLE001 - re-raised in the replica's loop
                loop.call_soon_threadsafe(queue.put_nowait, e)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, end)

        worker = loop.run_in_executor(None, pump)
        try:
            while (item := await queue.get()) is not end:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, GenResult):
                    metrics().generation.observe(item.seconds)
                yield item
        finally:   # the client disconnected (cancelled, or this generator closed): stop decoding for it
            if not worker.done():
                metrics().cancelled.inc()
            reader_gone.set()
        await worker

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)   # replaced from the config in __init__
    async def _batched(self, calls: list[tuple[GenRequest, threading.Event]]) -> list[GenResult]:
        requests, caller_gone = [c[0] for c in calls], [c[1] for c in calls]
        return await asyncio.to_thread(self.backend.generate_batch, requests, caller_gone)

    async def describe(self) -> dict[str, Any]:
        return {**self.backend.describe(), "max_batch_size": self.cfg.batching.max_batch_size,
                "batch_wait_timeout_s": self.cfg.batching.batch_wait_timeout_s}

    async def cancelled_requests(self) -> int | None:
        """Requests whose decoding the backend cut short because their caller had gone (None: a backend
        that does not count them). Also exported as ``hydra_serve_generation_cancelled_total``."""
        return getattr(self.backend, "cancelled_requests", None)


async def _settle(work: asyncio.Future) -> None:
    """Wait for ``work`` to end whatever it raises, through further cancellations (Serve may cancel
    again): the lock it runs under must not be released before."""
    while not work.done():
        try:
            await asyncio.wait({work})
        except asyncio.CancelledError:
            continue
    if not work.cancelled():
        work.exception()   # retrieved (SandboxCancelled, as a rule), so asyncio does not log it


def _labeler(cfg: ServiceConfig):
    from hydra_ray.prefs.config import LabelConfig
    from hydra_ray.prefs.labels import Labeler

    if cfg.reward.labeler:
        return Labeler.load(resolve_data_path(cfg.reward.labeler, "reward.labeler"))
    return Labeler(LabelConfig(epsilon=cfg.reward.epsilon))


@serve.deployment(name="Verifier")
class Verifier:
    def __init__(self, cfg: ServiceConfig):
        self.engine = VerificationEngine(cfg.verification.profile, _labeler(cfg))
        # One sandbox session at a time per replica, for two reasons: measurements must not share the
        # replica's reserved core, and every session of one process runs programs under the same private
        # uid (the sandbox derives it from the pid), so concurrent sessions would share RLIMIT_NPROC — a
        # fork bomb in one request makes another request's programs fail to fork (measured: EAGAIN).
        self._sandbox = asyncio.Lock()

    async def _timed(self, fn, *args) -> tuple[Any, float]:
        """``fn(*args)`` in a thread once the sandbox is free; (result, seconds it ran).

        When the caller cancels (the client went away, or the ingress gave up: Serve cancels this
        coroutine), the thread's sandbox session is killed and no further one starts; the sandbox is
        held until the thread has returned, so the next request never measures beside orphaned work."""
        async with self._sandbox:
            t0 = time.perf_counter()
            token = CancelToken()
            with cancelling(token):   # to_thread copies this context: the token reaches the sandbox
                work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
            try:
                return await asyncio.shield(work), time.perf_counter() - t0
            except asyncio.CancelledError:
                token.cancel()
                await _settle(work)
                raise
            finally:
                metrics().sandbox.observe(time.perf_counter() - t0)

    async def prepare(self, original: str, tests: Sequence[TestCase], inputs: Sequence[str],
                      float_tol: float | None) -> Prepared | Failure:
        try:
            return (await self._timed(self.engine.prepare, original, tests, inputs, float_tol))[0]
        except OriginalFailed as e:
            return Failure("original_fails", str(e))

    async def evaluate(self, prepared: Prepared, codes: Sequence[str | None], weights: Sequence[float]) -> Evaluation:
        return (await self._timed(self.engine.evaluate, prepared, codes, weights))[0]

    async def profile(self, code: str, tests: Sequence[TestCase], inputs: Sequence[str],
                      float_tol: float | None) -> tuple[Report, float]:
        return await self._timed(self.engine.profile_one, code, tests, inputs, float_tol)

    async def describe(self) -> dict[str, Any]:
        return self.engine.describe()
