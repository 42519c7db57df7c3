"""Generation backends: the policy model with HF ``generate`` (``model``), vLLM (``vllm``, GPU nodes,
:mod:`hydra_ray.serve.vllm_backend`) and recorded completions (``recorded``: tests, offline demos).

Every backend answers a *batch* of requests (``generate_batch``; the generation deployment's
``@serve.batch`` hands them over together), each request asking for ``n`` completions of one chat
prompt, and streams one request (``stream``): :class:`Delta` values, one per new piece of text of
one choice, then the request's :class:`GenResult` (usage, timing; its ``generations`` hold the full
texts). The vLLM backend is asynchronous (``is_async``): it batches continuously by itself.

``ModelBackend`` loads the base model and the peft adapter the config names
(:func:`hydra_ray.serve.config_paths.resolve_model`), optionally merges the adapter, and decodes with HF
``generate``. Requests are grouped by sampling setting and ``n``; each group is one ``generate`` call
in which every prompt is encoded once and its ``n`` samples come from ``num_return_sequences``.
A request with a ``seed`` is decoded in a call of its own, right after ``torch.manual_seed(seed)``, so
its answer does not depend on what else was in the batch (``info["decoded_with"]`` is 1); it is still
part of the batch, whose calls run one after another: its ``seconds`` and ``batch_size`` are the
batch's. Each group decodes to the largest
``max_new_tokens`` of its requests, and each row is then cut to its own request's limit:
decoding is autoregressive, so cutting afterwards gives exactly the tokens a shorter run would have
produced. One ``generate`` runs at a time (a lock: the model and torch's global RNG are shared).
torch is imported only here.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from hydra_ray.serve.config import ServiceConfig
from hydra_ray.serve.config_paths import resolve_data_path, resolve_model
from hydra_ray.serve.recorded import RecordedCompletions


@dataclass(frozen=True)
class GenRequest:
    messages: tuple[tuple[str, str], ...]   # (role, content) pairs: hashable, cheap to pickle
    n: int = 1
    max_new_tokens: int = 512
    temperature: float = 0.0                # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None

    @classmethod
    def of(cls, messages: Sequence[dict], **kw: Any) -> "GenRequest":
        return cls(tuple((str(m["role"]), str(m["content"])) for m in messages), **kw)

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str           # "stop" (end of turn) or "length" (hit max_new_tokens)
    completion_tokens: int


@dataclass
class GenResult:
    generations: list[Generation]
    prompt_tokens: int
    seconds: float               # wall time of the backend call this request was part of (its whole batch)
    batch_size: int              # requests handed to the backend together (one @serve.batch call)
    backend: str
    error: str | None = None     # set instead of raising, so one bad request does not fail its batch
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delta:
    """A piece of one choice's text while it streams; ``finish_reason`` is set on its last piece."""

    index: int                   # which of the request's n choices
    text: str                    # new text since this choice's previous delta
    finish_reason: str | None = None


def _stop_rows(cancelled: Sequence[threading.Event], rows_per_request: int):
    """A ``transformers`` stopping criterion that ends the rows of every request whose caller has gone
    (its event set), leaving its neighbours in the batch decoding. A generate() call cannot be
    interrupted from outside, but it asks its stopping criteria after every token, so an orphaned request
    costs at most one more step instead of its whole ``max_new_tokens``."""
    import torch
    from transformers import StoppingCriteria

    class CallerGone(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            gone = [cancelled[row // rows_per_request].is_set() for row in range(input_ids.shape[0])]
            return torch.tensor(gone, dtype=torch.bool, device=input_ids.device)

    return CallerGone()


class RecordedBackend:
    name = "recorded"
    is_async = False

    def __init__(self, cfg: ServiceConfig):
        self.path = resolve_data_path(cfg.recorded.path, "recorded.path")
        self.store = RecordedCompletions.from_file(self.path, cfg.recorded.mode)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "path": str(self.path), "mode": self.store.mode, "lines": len(self.store.lines)}

    def generate_batch(self, requests: Sequence[GenRequest],
                       cancelled: Sequence[threading.Event] | None = None) -> list[GenResult]:
        t0 = time.perf_counter()
        out = []
        for req in requests:
            try:
                texts = self.store.complete(req.message_dicts(), req.n)
                gens = [Generation(t, "stop", len(t.split())) for t in texts]
                out.append(GenResult(gens, 0, 0.0, len(requests), self.name))
            except LookupError as e:
                out.append(GenResult([], 0, 0.0, len(requests), self.name, error=str(e)))
        dt = time.perf_counter() - t0
        for r in out:
            r.seconds = dt
        return out

    def stream(self, request: GenRequest, stop: threading.Event | None = None) -> Iterator[Delta | GenResult]:
        """The recorded texts line by line (each line one delta), choices one after another."""
        [res] = self.generate_batch([request])
        if not res.error:
            for i, g in enumerate(res.generations):
                for line in g.text.splitlines(keepends=True):
                    yield Delta(i, line)
                yield Delta(i, "", g.finish_reason)
        yield res


class _RowStreamer:
    """transformers' streamer protocol for a batch: every decoding step's new tokens, one per row."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue()
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:   # generate() first hands over the prompt ids
            self._prompt_seen = True
            return
        self.queue.put(value.reshape(-1).tolist())

    def end(self) -> None:
        self.queue.put(None)

    def fail(self, error: BaseException) -> None:
        self.queue.put(error)

    def __iter__(self) -> Iterator[list[int]]:
        while (item := self.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item


class ModelBackend:
    name = "model"
    is_async = False

    def __init__(self, cfg: ServiceConfig, num_cpus: float = 1.0):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        section = cfg.model
        self.resolved = resolve_model(section)
        threads = section.torch_threads or max(1, int(num_cpus))
        torch.set_num_threads(threads)
        if section.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            self.device = section.device
        if section.dtype == "auto":
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, section.dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(self.resolved.tokenizer)
        self.tokenizer.padding_side = "left"   # decoder-only: pad on the left so every row ends at its prompt
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"tokenizer at {self.resolved.tokenizer} has no chat template; the service renders "
                             "the training prompt with it")
        model = AutoModelForCausalLM.from_pretrained(self.resolved.base, dtype=dtype)
        if self.resolved.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, self.resolved.adapter)
            if section.merge_adapter:
                model = model.merge_and_unload()
        self.model = model.to(self.device).eval()
        self.eos_ids = self._eos_ids()
        self.threads = threads
        self._lock = threading.Lock()   # one generate() at a time: the model and torch's global RNG
        self.cancelled_requests = 0     # decoding cut short because the client had gone

    def _eos_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            ids.add(im_end)
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        return sorted(i for i in ids if i is not None)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "base": self.resolved.base, "adapter": self.resolved.adapter,
                "merged": self.resolved.adapter is not None and not hasattr(self.model, "peft_config"),
                "device": self.device, "dtype": str(next(self.model.parameters()).dtype).removeprefix("torch."),
                "torch_threads": self.threads}

    def prompt_ids(self, req: GenRequest) -> list[int]:
        ids = self.tokenizer.apply_chat_template(req.message_dicts(), add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):   # transformers 5 may return a BatchEncoding
            ids = ids["input_ids"]
        return list(ids)

    # ---- one generate() call ---------------------------------------------------------------------
    def _rows(self, req: GenRequest) -> int:
        """Rows a request takes in its call: n samples, or 1 when greedy (its n answers are equal)."""
        return req.n if req.temperature > 0 else 1

    def _generate(self, reqs: Sequence[GenRequest], prompts: Sequence[list[int]], streamer=None,
                  cancelled: Sequence[threading.Event] | None = None):
        """One ``generate`` over requests that share temperature, top_p, n and seed: each prompt is one
        input row, expanded to ``n`` samples inside generate (num_return_sequences). ``cancelled``: one
        event per request, set when its caller has gone; its rows stop at the next token."""
        import torch

        first = reqs[0]
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        kwargs: dict[str, Any] = {"max_new_tokens": max(r.max_new_tokens for r in reqs), "pad_token_id": pad,
                                  "eos_token_id": self.eos_ids, "num_return_sequences": self._rows(first)}
        if cancelled is not None:
            kwargs["stopping_criteria"] = [_stop_rows(cancelled, self._rows(first))]
        if first.temperature > 0:
            kwargs.update(do_sample=True, temperature=first.temperature, top_p=first.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with self._lock, torch.inference_mode():
            if first.seed is not None and first.temperature > 0:
                torch.manual_seed(first.seed)
            out = self.model.generate(input_ids=input_ids, attention_mask=attention, streamer=streamer, **kwargs)
            if cancelled is not None:
                self.cancelled_requests += sum(e.is_set() for e in cancelled)
        return out[:, width:].tolist()

    def _cut(self, toks: list[int], limit: int) -> Generation:
        eos, pad = set(self.eos_ids), self.tokenizer.pad_token_id
        while toks and toks[-1] == pad and pad not in eos:   # a row that stopped before the batch: padding
            toks = toks[:-1]
        cut = next((j for j, t in enumerate(toks[:limit]) if t in eos), None)
        body = toks[:cut] if cut is not None else toks[:limit]
        return Generation(self.tokenizer.decode(body, skip_special_tokens=True),
                          "stop" if cut is not None else "length", len(body))

    @staticmethod
    def _group_key(i: int, req: GenRequest) -> tuple:
        if req.temperature <= 0:
            return ("greedy",)
        # A seeded request decodes alone: its samples must not depend on its neighbours.
        return ("sample", req.temperature, req.top_p, req.n, ("seed", i) if req.seed is not None else None)

    def generate_batch(self, requests: Sequence[GenRequest],
                       cancelled: Sequence[threading.Event] | None = None) -> list[GenResult]:
        """``cancelled``: one event per request, set when its caller has gone (the client disconnected);
        that request's rows stop decoding at the next token and its result is marked ``info["cancelled"]``."""
        t0 = time.perf_counter()
        results: list[GenResult | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(self._group_key(i, req), []).append(i)
        for idx in groups.values():
            reqs = [requests[i] for i in idx]
            prompts = [self.prompt_ids(r) for r in reqs]
            events = [cancelled[i] for i in idx] if cancelled is not None else None
            rows = self._generate(reqs, prompts, cancelled=events)
            per = self._rows(reqs[0])
            for k, (i, req) in enumerate(zip(idx, reqs)):
                gens = [self._cut(t, req.max_new_tokens) for t in rows[k * per:(k + 1) * per]]
                if per < req.n:   # greedy: the n answers are the same answer
                    gens = gens * req.n
                info = {"generate_calls": len(groups), "decoded_with": len(idx)}
                if events is not None and events[k].is_set():
                    info["cancelled"] = True   # cut short: nobody is waiting for it
                results[i] = GenResult(gens, len(prompts[k]), 0.0, len(requests), self.name, info=info)
        dt = time.perf_counter() - t0
        for r in results:
            r.seconds = dt
        return results  # type: ignore[return-value]

    def stream(self, request: GenRequest, stop: threading.Event | None = None) -> Iterator[Delta | GenResult]:
        """Decode one request alone, yielding each choice's new text as its tokens arrive. ``stop``: set
        when the reader has gone; decoding ends at the next token (so does a reader that closes this
        iterator)."""
        t0 = time.perf_counter()
        prompt = self.prompt_ids(request)
        rows = self._rows(request)
        streamer = _RowStreamer()
        stop = stop if stop is not None else threading.Event()

        def work():
            try:
                self._generate([request], [prompt], streamer, cancelled=[stop])
                streamer.end()
            except BaseException as e:   # surfaces in the consuming thread
                streamer.fail(e)

        threading.Thread(target=work, name="hf-stream", daemon=True).start()
        toks: list[list[int]] = [[] for _ in range(rows)]
        sent = [""] * rows
        reasons: list[str | None] = [None] * rows
        try:
            yield from self._stream_deltas(request, streamer, rows, toks, sent, reasons)
        finally:   # the reader stopped early (GeneratorExit) or it all ended: either way decoding stops
            stop.set()
        gens = [Generation(sent[k], reasons[k] or "length", len(toks[k])) for k in range(rows)]
        if rows < request.n:
            gens = gens * request.n
        yield GenResult(gens, len(prompt), time.perf_counter() - t0, 1, self.name)

    def _stream_deltas(self, request: GenRequest, streamer: "_RowStreamer", rows: int, toks: list[list[int]],
                       sent: list[str], reasons: list[str | None]) -> Iterator[Delta]:
        eos, limit = set(self.eos_ids), request.max_new_tokens
        for step in streamer:
            for k, t in enumerate(step[:rows]):
                if reasons[k] is not None:
                    continue
                if t in eos:
                    reasons[k] = "stop"
                else:
                    toks[k].append(t)
                    if len(toks[k]) >= limit:
                        reasons[k] = "length"
                text = self.tokenizer.decode(toks[k], skip_special_tokens=True)
                if reasons[k] is None and text.endswith("\ufffd"):
                    continue   # half of a multi-byte character: wait for the rest
                for c in range(k, request.n if rows == 1 else k + 1):   # greedy: every choice is this row
                    if text[len(sent[k]):] or reasons[k]:
                        yield Delta(c, text[len(sent[k]):], reasons[k])
                sent[k] = text
        for k in range(rows):   # generate() stopped (every row ended or hit the limit)
            if reasons[k] is None:
                reasons[k] = "length"
                for c in range(k, request.n if rows == 1 else k + 1):
                    yield Delta(c, "", "length")


def make_backend(cfg: ServiceConfig, num_cpus: float = 1.0):
    if cfg.backend == "recorded":
        return RecordedBackend(cfg)
    if cfg.backend == "vllm":
        from hydra_ray.serve.vllm_backend import VllmBackend

        return VllmBackend(cfg)
    return ModelBackend(cfg, num_cpus)
