"""Configuration of ``hydra-ray evaluate`` (presets in configs/evaluate/*.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field

from hydra_ray.config import Config, in_range, one_of, path_field, positive
from hydra_ray.evaluate.openai_client import OpenAIConfig
from hydra_ray.evaluate.prompts import PROMPT_CONFIGS
from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.metrics.profile_config import ProfileConfig

SUITES = ("patterns", "pie-heldout", "humaneval")
OPTIMIZERS = ("reference", "identity", "openai", "hydra")
SIZE_NAMES = ("small", "medium", "large")
# Fewest timing rounds a comparison can come out of significant from (Mann-Whitney, two-sided, 4 vs 4: p = 0.029).
MIN_REPEATS = 4


@dataclass
class PatternsConfig(Config):
    names: list[str] = field(default_factory=list)           # empty: every pattern
    sizes: list[str] = field(default_factory=lambda: list(SIZE_NAMES))
    tests_per_size: int = 2
    seed: int = 0

    def _check(self, errors: list[str]) -> None:
        positive(errors, "tests_per_size", self.tests_per_size)
        for s in self.sizes:
            one_of(errors, "sizes[]", s, SIZE_NAMES)
        if not self.sizes:
            errors.append(f"sizes: expected at least one of {list(SIZE_NAMES)}")


@dataclass
class PieConfig(Config):
    path: str = path_field("../shared/data/pie_python_pairs_cn.jsonl")
    split: str = path_field("configs/evaluate/splits/pie_heldout.txt")
    max_pairs_per_problem: int | None = 1
    max_tasks: int | None = None

    def _check(self, errors: list[str]) -> None:
        if self.max_pairs_per_problem is not None:
            positive(errors, "max_pairs_per_problem", self.max_pairs_per_problem)
        if self.max_tasks is not None:
            positive(errors, "max_tasks", self.max_tasks)


@dataclass
class HumanEvalConfig(Config):
    path: str = path_field("../shared/data/HumanEval.jsonl.gz")
    max_tasks: int | None = None

    def _check(self, errors: list[str]) -> None:
        if self.max_tasks is not None:
            positive(errors, "max_tasks", self.max_tasks)


@dataclass
class MeasureConfig(Config):
    """Handed to ``harness.measure_task`` (the profiler) untouched.

    ``mode`` is the profiler's ``profile.mode``: ``process`` (a fresh interpreter per run),
    ``inprocess`` (forked from a warm runner; the default) or ``function`` (the entry point in a
    timeit-style loop: HumanEval's ``check(entry_point)``, a pattern or PIE program called with its
    stdin; per-call figures, as the paper's Table III). Every results row records the mode used.
    """
    repeats: int = 5
    timeout_s: float = 10.0
    memory_limit_mb: int = 2048
    metrics: list[str] = field(default_factory=lambda: list(METRIC_NAMES))
    mode: str = "inprocess"
    function_min_calls: int = ProfileConfig.function_min_calls       # the profiler's defaults: one place to tune
    function_min_sample_ms: float = ProfileConfig.function_min_sample_ms
    # perf counters when the kernel allows (auto), valgrind instruction counts, or CPU time x clock
    # (estimated); in function mode the counters count one call (metrics/counters.py), as Table III does
    cycles_backend: str = ProfileConfig.cycles_backend

    def _check(self, errors: list[str]) -> None:
        from hydra_ray.sandbox.modes import MODES

        one_of(errors, "mode", self.mode, MODES)
        one_of(errors, "cycles_backend", self.cycles_backend, ("auto", "perf", "valgrind", "estimate"))
        positive(errors, "function_min_calls", self.function_min_calls)
        positive(errors, "function_min_sample_ms", self.function_min_sample_ms)
        if isinstance(self.repeats, int) and self.repeats < MIN_REPEATS:
            errors.append(f"repeats: expected at least {MIN_REPEATS}, got {self.repeats}: with fewer samples of "
                          "each program the rank test cannot find any difference significant (3 against 3: "
                          "p >= 0.1); use measure.repeats=4 or more")
        else:
            positive(errors, "repeats", self.repeats)
        positive(errors, "timeout_s", self.timeout_s)
        positive(errors, "memory_limit_mb", self.memory_limit_mb)
        for m in self.metrics:
            one_of(errors, "metrics[]", m, METRIC_NAMES)


@dataclass
class StatsConfig(Config):
    alpha: float = 0.05
    min_effect: float = 0.02       # relative median difference below which nothing is "significant"
    n_boot: int = 2000
    level: float = 0.95
    opt_threshold: float = 1.10    # PIE's %Opt: at least 10 % faster
    seed: int = 0

    def _check(self, errors: list[str]) -> None:
        in_range(errors, "alpha", self.alpha, 0.0, 1.0)
        positive(errors, "min_effect", self.min_effect, allow_zero=True)
        positive(errors, "n_boot", self.n_boot)
        in_range(errors, "level", self.level, 0.5, 0.9999)
        positive(errors, "opt_threshold", self.opt_threshold)


@dataclass
class EvaluateConfig(Config):
    suite: str = "patterns"        # a name in SUITES or a path to a JSONL suite
    optimizer: str = "reference"
    output: str = path_field("runs/evaluate")
    prompts: list[str] = field(default_factory=lambda: list(PROMPT_CONFIGS))   # openai optimiser
    samples_per_prompt: int = 1    # candidates per (task, prompt or weight vector); best one counts
    # hydra optimiser: weight vectors over METRIC_NAMES; empty = each metric alone plus uniform.
    weights: list[list[float]] = field(default_factory=list)
    patterns: PatternsConfig = field(default_factory=PatternsConfig)
    pie: PieConfig = field(default_factory=PieConfig)
    humaneval: HumanEvalConfig = field(default_factory=HumanEvalConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    # Also measure the original against itself (config "identity"): the noise floor of this run.
    identity_baseline: bool = True
    # hydra optimiser in process (no service): a serve preset naming the model, e.g.
    # configs/serve/tiny-cpu.yaml, plus its overrides (e.g. ["model.training_output=runs/train"]).
    hydra_in_process: str | None = path_field(None)
    hydra_overrides: list[str] = field(default_factory=list)
    # hydra optimiser: weights | none, the prompts the model was trained on (hydra_ray.prefs.prompt).
    # None: the in-process adapter's record (hydra_prompt.json), else weights; a contradiction is refused.
    prompt_conditioning: str | None = None

    def _check(self, errors: list[str]) -> None:
        one_of(errors, "optimizer", self.optimizer, OPTIMIZERS)
        if self.prompt_conditioning is not None:
            one_of(errors, "prompt_conditioning", self.prompt_conditioning, ("weights", "none"))
        if not self.suite:
            errors.append(f"suite: expected one of {list(SUITES)} or a path to a JSONL suite")
        if not self.output:
            errors.append("output: expected a directory")
        positive(errors, "samples_per_prompt", self.samples_per_prompt)
        for p in self.prompts:
            one_of(errors, "prompts[]", p, PROMPT_CONFIGS)
        if self.optimizer == "openai" and not self.prompts:
            errors.append(f"prompts: the openai optimizer needs at least one of {list(PROMPT_CONFIGS)}")
        for i, w in enumerate(self.weights):
            if len(w) != len(METRIC_NAMES) or any(x < 0 for x in w) or abs(sum(w) - 1) > 1e-6:
                errors.append(f"weights[{i}]: expected {len(METRIC_NAMES)} non-negative numbers summing to 1 "
                              f"(order {list(METRIC_NAMES)}), got {w!r}")

    def weight_vectors(self) -> list[tuple[float, ...]]:
        if self.weights:
            return [tuple(float(x) for x in w) for w in self.weights]
        m = len(METRIC_NAMES)
        return [tuple(1.0 if j == i else 0.0 for j in range(m)) for i in range(m)] + [tuple([1.0 / m] * m)]
