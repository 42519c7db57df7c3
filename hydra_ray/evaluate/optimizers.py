"""Where candidate programs come from: ``reference`` (the suite's known better version), ``identity``
(the original itself: a sanity baseline whose ratios must sit at 1), ``openai`` (any OpenAI-compatible
chat model under the six prompt configurations) and ``hydra`` (the trained model served behind an
OpenAI-compatible endpoint, prompted with preference weights).

Every optimiser answers a whole batch, ``propose(tasks) -> {task_id: [Candidate, ...]}``, so remote
ones can keep several requests in flight.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from hydra_ray.evaluate.prompts import OBJECTIVE_WEIGHTS, extract_code, parse_config, render
from hydra_ray.evaluate.tasks import Task


@dataclass(frozen=True)
class Candidate:
    config: str                          # "reference", "identity", "runtime/minimal", "w=1,0,0,0,0", …
    index: int                           # sample number within the configuration
    code: str | None                     # None: nothing usable came back (see ``detail``)
    weights: tuple[float, ...] | None = None   # what the candidate was asked to optimise (METRIC_NAMES order)
    detail: str = ""
    raw: str | None = None               # the model's full answer, kept for inspection
    cached: bool = False


class Optimizer(Protocol):
    name: str

    def propose(self, tasks: Sequence[Task]) -> dict[str, list[Candidate]]: ...


def weights_label(w: Sequence[float]) -> str:
    return "w=" + ",".join(f"{x:g}" for x in w)


class ReferenceOptimizer:
    name = "reference"

    def propose(self, tasks: Sequence[Task]) -> dict[str, list[Candidate]]:
        out = {}
        for t in tasks:
            if t.better_code is None:
                out[t.id] = [Candidate("reference", 0, None, OBJECTIVE_WEIGHTS["runtime"],
                                       detail=f"suite {t.suite!r} has no reference program for this task")]
            else:
                out[t.id] = [Candidate("reference", 0, t.better_code, OBJECTIVE_WEIGHTS["runtime"])]
        return out


class IdentityOptimizer:
    name = "identity"

    def propose(self, tasks: Sequence[Task]) -> dict[str, list[Candidate]]:
        return {t.id: [Candidate("identity", 0, t.original_code, OBJECTIVE_WEIGHTS["runtime"])] for t in tasks}


@dataclass(frozen=True)
class _Request:
    task_id: str
    config: str
    index: int
    weights: tuple[float, ...]
    messages: list[dict[str, str]]


class ChatOptimizer:
    """Shared by ``openai`` and ``hydra``: one request per (task, configuration, sample)."""

    def __init__(self, name: str, client, configs: Sequence[tuple[str, tuple[float, ...]]],
                 render_fn: Callable[[str, Task], list[dict[str, str]]], samples: int = 1,
                 extract_fn: Callable[[str], str | None] = extract_code):
        self.name = name
        self.client = client
        self.configs = list(configs)
        self.render_fn = render_fn
        self.samples = samples
        self.extract_fn = extract_fn

    def requests(self, tasks: Sequence[Task]) -> list[_Request]:
        return [_Request(t.id, label, i, w, self.render_fn(label, t))
                for t in tasks for label, w in self.configs for i in range(self.samples)]

    def propose(self, tasks: Sequence[Task]) -> dict[str, list[Candidate]]:
        reqs = self.requests(tasks)
        answers = self.client.complete_many([(r.messages, r.index) for r in reqs])
        out: dict[str, list[Candidate]] = {t.id: [] for t in tasks}
        for r, a in zip(reqs, answers):
            if isinstance(a, Exception):
                out[r.task_id].append(Candidate(r.config, r.index, None, r.weights, detail=f"request failed: {a}"))
                continue
            code = self.extract_fn(a.text)
            detail = "" if code else "no Python code found in the answer"
            out[r.task_id].append(Candidate(r.config, r.index, code, r.weights, detail, a.text, a.cached))
        return out


def openai_optimizer(client, prompts: Sequence[str], samples: int = 1) -> ChatOptimizer:
    configs = [(p, OBJECTIVE_WEIGHTS[parse_config(p)[0]]) for p in prompts]
    return ChatOptimizer("openai", client, configs, lambda label, t: render(label, t.original_code), samples)


def hydra_optimizer(client, weight_vectors: Sequence[Sequence[float]], samples: int = 1,
                    conditioning: str = "weights") -> ChatOptimizer:
    """Prompts and parses exactly as training did (``hydra_ray.prefs.prompt``); with ``conditioning="none"``
    every weight vector gets the same unconditioned prompt and the weights only pick the best candidate."""
    try:
        from hydra_ray.prefs.prompt import extract_code as extract_training, render_messages
    except ImportError as e:
        raise RuntimeError("the hydra optimizer needs hydra_ray.prefs.prompt.render_messages (the training "
                           f"prompt template), which is not available: {e}") from e
    configs = [(weights_label(w), tuple(float(x) for x in w)) for w in weight_vectors]
    by_label = dict(configs)

    def render_fn(label: str, t: Task) -> list[dict[str, str]]:
        return list(render_messages(t.original_code, list(by_label[label]), conditioning))

    return ChatOptimizer("hydra", client, configs, render_fn, samples, extract_training)


def build_optimizer(cfg) -> Optimizer:
    """The optimiser named by ``cfg.optimizer`` (an EvaluateConfig)."""
    if cfg.optimizer == "reference":
        return ReferenceOptimizer()
    if cfg.optimizer == "identity":
        return IdentityOptimizer()
    from hydra_ray.evaluate.openai_client import ChatClient

    client = None if (cfg.optimizer == "hydra" and cfg.hydra_in_process) else ChatClient(cfg.openai)
    if cfg.optimizer == "openai":
        return openai_optimizer(client, cfg.prompts, cfg.samples_per_prompt)
    if cfg.optimizer == "hydra":
        conditioning = cfg.prompt_conditioning or "weights"
        if cfg.hydra_in_process:
            from hydra_ray.evaluate.inprocess import InProcessClient
            from hydra_ray.prefs.prompt import resolve_conditioning

            client = InProcessClient(cfg.hydra_in_process, cfg.hydra_overrides,
                                     max_new_tokens=cfg.openai.max_tokens, temperature=cfg.openai.temperature)
            conditioning = resolve_conditioning(cfg.prompt_conditioning, client.conditioning,
                                                f"the model of {cfg.hydra_in_process}")
        return hydra_optimizer(client, cfg.weight_vectors(), cfg.samples_per_prompt, conditioning)
    raise ValueError(f"optimizer: expected one of reference, identity, openai, hydra; got {cfg.optimizer!r}")

