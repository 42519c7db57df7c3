"""The ``vllm`` generation backend: vLLM's asynchronous engine inside the Generator replica (GPU nodes).

vLLM batches continuously by itself (requests join and leave the running batch at every step, the KV
cache is paged, and the ``n`` samples of a request share its prompt's KV blocks), so the Generator
deployment hands it each request as it comes instead of going through ``@serve.batch``. The
trained adapter is served as a LoRA (``LoRARequest``; ``model.merge_adapter: false``) or folded into
the base weights once at start-up and served merged (``merge_adapter: true``, written to
``vllm.merged_dir``).

The prompt is rendered exactly as the HF backend and training render it: the tokenizer's chat template
applied here, the token ids handed to the engine. Per request: ``SamplingParams(n=…, seed=…)``;
greedy requests decode once and repeat the answer ``n`` times, as the HF backend does.

The engine runs on an event loop of its own (a thread), so the backend serves both async callers (the
Serve replica: :meth:`agenerate`, :meth:`astream`) and plain ones (``generate_batch``, ``stream``:
the in-process evaluation client, the benchmarks). vllm is imported only inside functions: CPU
machines and CI never install it. The pure parts (:func:`sampling_kwargs`, :func:`engine_kwargs`,
:func:`generations_of`) are tested without it.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Sequence

from hydra_ray.config import ConfigError
from hydra_ray.serve.backends import Delta, GenRequest, GenResult, Generation
from hydra_ray.serve.config import ServiceConfig, check_node
from hydra_ray.serve.config_paths import ResolvedModel, resolve_model

LORA_NAME = "hydra-adapter"
# The LoRA slot sizes vLLM's LoRAConfig accepts (max_lora_rank must be one of them; recent releases).
LORA_SLOTS = (8, 16, 32, 64, 128, 256, 320, 512)


def lora_slot(rank: int) -> int:
    """The smallest LoRA slot vLLM offers that holds an adapter of this rank."""
    for slot in LORA_SLOTS:
        if slot >= rank:
            return slot
    raise ConfigError([f"model.adapter: LoRA rank r={rank} is above the largest vLLM serves ({LORA_SLOTS[-1]}); "
                       "set model.merge_adapter: true to serve it merged"])


# ---- pure: our request and config -> vLLM's arguments -------------------------------------------

def sample_rows(req: GenRequest) -> int:
    """Samples the engine draws: n, or 1 for greedy (its n answers would be the same)."""
    return req.n if req.temperature > 0 else 1


def sampling_kwargs(req: GenRequest, stop_token_ids: Sequence[int] = ()) -> dict[str, Any]:
    """``SamplingParams(**this)`` for one request: its n samples, limit, sampling setting and seed."""
    greedy = req.temperature <= 0
    kw: dict[str, Any] = {
        "n": sample_rows(req),
        "max_tokens": req.max_new_tokens,
        "temperature": 0.0 if greedy else float(req.temperature),
        "top_p": 1.0 if greedy else float(req.top_p),
        "seed": None if greedy else req.seed,
        "skip_special_tokens": True,
    }
    if stop_token_ids:
        kw["stop_token_ids"] = sorted(set(int(t) for t in stop_token_ids))
    return kw


def adapter_rank(adapter_dir: str) -> int:
    cfg = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    return int(cfg.get("r") or 8)


def engine_kwargs(cfg: ServiceConfig, model_dir: str, tokenizer_dir: str, lora_rank: int | None) -> dict[str, Any]:
    """``AsyncEngineArgs(**this)``: the model to load, its dtype, LoRA slots and the engine's limits."""
    v = cfg.vllm
    dtype = cfg.model.dtype if cfg.model.dtype != "auto" else "bfloat16"
    kw: dict[str, Any] = {
        "model": model_dir,
        "tokenizer": tokenizer_dir,
        "dtype": dtype,
        "gpu_memory_utilization": v.gpu_memory_utilization,
        "max_model_len": v.max_model_len,
        "max_num_seqs": v.max_num_seqs,
        "tensor_parallel_size": v.tensor_parallel_size,
        "enforce_eager": v.enforce_eager,
        "enable_prefix_caching": v.enable_prefix_caching,
        "disable_log_stats": True,
    }
    if lora_rank is not None:
        rank = v.max_lora_rank or lora_rank
        if rank < lora_rank:
            raise ConfigError([f"vllm.max_lora_rank: {rank} is below the adapter's rank r={lora_rank}; set it to "
                               f">= {lora_rank} or 0 (the adapter's own)"])
        kw.update(enable_lora=True, max_lora_rank=lora_slot(rank), max_loras=1)
    return kw


def generations_of(outputs: Sequence[Any], n: int) -> list[Generation]:
    """vLLM's CompletionOutputs (index, text, token_ids, finish_reason) -> ours, in index order;
    a greedy request's one output stands for its n answers."""
    gens = [Generation(o.text, "length" if o.finish_reason == "length" else "stop", len(o.token_ids))
            for o in sorted(outputs, key=lambda o: o.index)]
    return gens * n if len(gens) == 1 and n > 1 else gens


def merged_dir_for(resolved: ResolvedModel, root: str) -> Path:
    key = hashlib.sha256(f"{resolved.base}\0{resolved.adapter}".encode()).hexdigest()[:16]
    return Path(root) / f"merged-{key}"


def merge_adapter(resolved: ResolvedModel, root: str) -> str:
    """Base + adapter folded into one checkpoint (once: reused while the marker file is there)."""
    out = merged_dir_for(resolved, root)
    if (out / ".hydra-merged").is_file():
        return str(out)
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(resolved.base, dtype=torch.bfloat16)
    model = PeftModel.from_pretrained(model, resolved.adapter).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(resolved.tokenizer).save_pretrained(out)
    (out / ".hydra-merged").write_text(json.dumps({"base": resolved.base, "adapter": resolved.adapter}))
    return str(out)


# ---- the engine -----------------------------------------------------------------------------------

class VllmBackend:
    name = "vllm"
    is_async = True

    def __init__(self, cfg: ServiceConfig):
        check_node(cfg)   # CUDA and vllm here, or a ConfigError saying which is missing
        from transformers import AutoTokenizer

        self.cfg = cfg
        self.resolved = resolve_model(cfg.model)
        self.tokenizer = AutoTokenizer.from_pretrained(self.resolved.tokenizer)
        model_dir, rank, self.merged = self.resolved.base, None, False
        if self.resolved.adapter:
            if cfg.model.merge_adapter:
                model_dir, self.merged = merge_adapter(self.resolved, cfg.vllm.merged_dir), True
            else:
                rank = adapter_rank(self.resolved.adapter)
        self.engine_args = engine_kwargs(cfg, model_dir, self.resolved.tokenizer, rank)
        self.stop_ids = self._stop_ids()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="vllm-engine-loop", daemon=True).start()
        self.engine = self._run(self._start())
        self.lora = None
        if rank is not None:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(LORA_NAME, 1, self.resolved.adapter)

    async def _start(self):
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        return AsyncLLM.from_engine_args(AsyncEngineArgs(**self.engine_args))

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            ids.add(im_end)
        return sorted(i for i in ids if i is not None)

    def describe(self) -> dict[str, Any]:
        import vllm

        return {"backend": self.name, "base": self.resolved.base, "adapter": self.resolved.adapter,
                "merged": self.merged, "lora": self.lora is not None, "device": "cuda",
                "dtype": self.engine_args["dtype"], "vllm": vllm.__version__,
                "max_num_seqs": self.engine_args["max_num_seqs"], "max_model_len": self.engine_args["max_model_len"]}

    def prompt_ids(self, req: GenRequest) -> list[int]:
        ids = self.tokenizer.apply_chat_template(req.message_dicts(), add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    async def _outputs(self, req: GenRequest, delta: bool) -> AsyncIterator[tuple[Any, int]]:
        """The engine's RequestOutputs for one request (runs on the engine's loop)."""
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        prompt = self.prompt_ids(req)
        params = SamplingParams(**sampling_kwargs(req, self.stop_ids),
                                output_kind=RequestOutputKind.DELTA if delta else RequestOutputKind.FINAL_ONLY)
        async for out in self.engine.generate({"prompt_token_ids": prompt}, params, uuid.uuid4().hex,
                                              lora_request=self.lora):
            yield out, len(prompt)

    async def _final(self, req: GenRequest) -> GenResult:
        t0, last, n_prompt = time.perf_counter(), None, 0
        async for out, n_prompt in self._outputs(req, delta=False):
            last = out
        gens = generations_of(last.outputs if last is not None else [], req.n)
        return GenResult(gens, n_prompt, time.perf_counter() - t0, 1, self.name)

    # ---- async API (the Serve replica) ---------------------------------------------------------
    async def agenerate(self, req: GenRequest) -> GenResult:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._final(req), self._loop))

    async def astream(self, req: GenRequest) -> AsyncIterator[Delta | GenResult]:
        caller = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue()
        end = object()

        async def pump():
            t0, n_prompt = time.perf_counter(), 0
            texts: dict[int, list[str]] = {}
            tokens: dict[int, int] = {}
            reasons: dict[int, str] = {}
            try:
                async for out, n_prompt in self._outputs(req, delta=True):
                    for o in out.outputs:
                        texts.setdefault(o.index, []).append(o.text)
                        tokens[o.index] = tokens.get(o.index, 0) + len(o.token_ids)
                        reason = None
                        if o.finish_reason is not None:
                            reason = reasons[o.index] = "length" if o.finish_reason == "length" else "stop"
                        for c in (range(req.n) if sample_rows(req) == 1 else [o.index]):
                            caller.call_soon_threadsafe(q.put_nowait, Delta(c, o.text, reason))
                gens = [Generation("".join(texts.get(i, [])), reasons.get(i, "length"), tokens.get(i, 0))
                        for i in range(sample_rows(req))]
                if len(gens) < req.n:
                    gens = gens * req.n
                caller.call_soon_threadsafe(q.put_nowait, GenResult(gens, n_prompt, time.perf_counter() - t0, 1,
                                                                    self.name))
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                caller.call_soon_threadsafe(q.put_nowait, e)
            finally:
                caller.call_soon_threadsafe(q.put_nowait, end)

        fut = asyncio.run_coroutine_threadsafe(pump(), self._loop)
        try:
            while (item := await q.get()) is not end:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            fut.cancel()   # the client went away: the engine aborts the request

    # ---- plain API (in-process client, benchmarks) ---------------------------------------------
    def generate_batch(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        """All requests submitted at once: the engine batches them itself."""
        async def all_of():
            return await asyncio.gather(*(self._final(r) for r in requests))

        t0 = time.perf_counter()
        results = self._run(all_of())
        dt = time.perf_counter() - t0
        for r in results:
            r.seconds, r.batch_size = dt, len(requests)
        return list(results)

    def stream(self, request: GenRequest) -> Iterator[Delta | GenResult]:
        agen = self.astream(request)
        loop = asyncio.new_event_loop()
        try:
            while True:
                try:
                    yield loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(agen.aclose())
            loop.close()
