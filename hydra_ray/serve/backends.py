"""Generation backends: the policy model (default) and recorded completions (tests, offline demos).

Both answer a *batch* of requests at once (the generation deployment's ``@serve.batch`` hands them
over together), each request asking for ``n`` completions of one chat prompt.

``ModelBackend`` loads the base model and the peft adapter the config names
(:func:`hydra_ray.serve.config.resolve_model`), optionally merges the adapter, and decodes with HF
``generate``: every request is expanded to ``n`` rows, left-padded into one batch per sampling setting
(requests with different temperature/top_p cannot share a ``generate`` call), decoded to the largest
``max_new_tokens`` of the group, and each row is then cut to its own request's limit. Decoding is
autoregressive, so cutting afterwards gives exactly the tokens a shorter run would have produced.
torch is imported only here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from hydra_ray.serve.config import ServiceConfig, resolve_data_path, resolve_model
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
    seconds: float               # wall time of the backend call this request was part of
    batch_size: int              # requests decoded together
    backend: str
    error: str | None = None     # set instead of raising, so one bad request does not fail its batch
    info: dict[str, Any] = field(default_factory=dict)


class RecordedBackend:
    name = "recorded"

    def __init__(self, cfg: ServiceConfig):
        self.path = resolve_data_path(cfg.recorded.path, "recorded.path")
        self.store = RecordedCompletions.from_file(self.path, cfg.recorded.mode)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "path": str(self.path), "mode": self.store.mode, "lines": len(self.store.lines)}

    def generate_batch(self, requests: Sequence[GenRequest]) -> list[GenResult]:
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


class ModelBackend:
    name = "model"

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

    def generate_batch(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        t0 = time.perf_counter()
        results: list[GenResult | None] = [None] * len(requests)
        groups: dict[tuple[float, float], list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault((req.temperature, req.top_p if req.temperature > 0 else 1.0), []).append(i)
        for (temperature, top_p), idx in groups.items():
            self._generate_group([requests[i] for i in idx], temperature, top_p, idx, results, len(requests))
        dt = time.perf_counter() - t0
        for r in results:
            r.seconds = dt
        return results  # type: ignore[return-value]

    def _generate_group(self, reqs, temperature, top_p, idx, results, batch_size) -> None:
        import torch

        prompts = [self.prompt_ids(r) for r in reqs]
        rows = [(k, p) for k, (r, p) in enumerate(zip(reqs, prompts)) for _ in range(r.n)]
        width = max(len(p) for _, p in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for _, p in rows], device=self.device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for _, p in rows], device=self.device)
        max_new = max(r.max_new_tokens for r in reqs)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": pad, "eos_token_id": self.eos_ids}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
            seed = next((r.seed for r in reqs if r.seed is not None), None)
            if seed is not None:   # reproducible for a request decoded alone; a batch shares one generator
                torch.manual_seed(seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        new = out[:, width:].tolist()
        per_req: list[list[Generation]] = [[] for _ in reqs]
        eos = set(self.eos_ids)
        for (k, _), toks in zip(rows, new):
            limit = reqs[k].max_new_tokens
            cut = next((j for j, t in enumerate(toks[:limit]) if t in eos), None)
            body = toks[:cut] if cut is not None else toks[:limit]
            reason = "stop" if cut is not None else "length"
            text = self.tokenizer.decode(body, skip_special_tokens=True)
            per_req[k].append(Generation(text, reason, len(body)))
        for k, i in enumerate(idx):
            results[i] = GenResult(per_req[k], len(prompts[k]), 0.0, batch_size, self.name)


def make_backend(cfg: ServiceConfig, num_cpus: float = 1.0):
    if cfg.backend == "recorded":
        return RecordedBackend(cfg)
    return ModelBackend(cfg, num_cpus)
