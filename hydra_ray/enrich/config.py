"""Configuration of `hydra-ray enrich`."""
from __future__ import annotations

from dataclasses import dataclass, field

from hydra_ray.config import Config, positive
from hydra_ray.metrics.profile_config import ProfileConfig
from hydra_ray.placement import ProfilerPlacement


@dataclass
class RayConfig(Config):
    address: str | None = None        # None: $RAY_ADDRESS if set (ray job submit), else an embedded local Ray
    num_cpus: int | None = None       # embedded Ray only: CPUs to give it (default: all)
    include_dashboard: bool | None = None

    def _check(self, errors: list[str]) -> None:
        if self.num_cpus is not None:
            positive(errors, "num_cpus", self.num_cpus)


@dataclass
class InputConfig(Config):
    """How the input streams in: read and validated by Ray Data tasks on the driver's node."""

    block_rows: int = 256             # records per read block (one validate call)
    validate_tasks: int = 2           # read/validate tasks at a time
    cpus_per_task: float = 0.0        # CPUs each reserves; 0 leaves every CPU slot to the profiling actors

    def _check(self, errors: list[str]) -> None:
        positive(errors, "block_rows", self.block_rows)
        positive(errors, "validate_tasks", self.validate_tasks)
        positive(errors, "cpus_per_task", self.cpus_per_task, allow_zero=True)


@dataclass
class OutputConfig(Config):
    """Rolling Parquet output: a file is written when either limit is reached (and at the end).

    A killed run loses at most the sets of the file being filled: ``sets_per_file`` sets or
    ``seconds_per_file`` seconds of measuring, whichever is smaller.
    """

    sets_per_file: int = 1000
    seconds_per_file: float = 60.0
    compact: bool = False             # at the end, merge files smaller than compact_rows rows
    compact_rows: int = 200_000       # candidate rows per compacted file (2 per pair)

    def _check(self, errors: list[str]) -> None:
        positive(errors, "sets_per_file", self.sets_per_file)
        positive(errors, "seconds_per_file", self.seconds_per_file)
        positive(errors, "compact_rows", self.compact_rows)
        if not isinstance(self.compact, bool):
            errors.append(f"compact: expected true or false, got {self.compact!r}")


@dataclass
class EnrichConfig(Config):
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    placement: ProfilerPlacement = field(default_factory=ProfilerPlacement)
    ray: RayConfig = field(default_factory=RayConfig)
    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    # Program sets per actor call: "auto" (see resolve_batch_size) or a number. 1: finished sets reach
    # the writer one by one, at ~20 ms of Ray Data per set; 16: ~2-4 ms (benchmarks/README.md).
    batch_size: int | str = "auto"
    limit: int | None = None          # only the first N valid records of the input, in file order

    def _check(self, errors: list[str]) -> None:
        if isinstance(self.batch_size, str) and self.batch_size != "auto":
            errors.append(f"batch_size: expected a whole number or 'auto', got {self.batch_size!r}")
        elif self.batch_size != "auto":
            positive(errors, "batch_size", self.batch_size)
            if isinstance(self.batch_size, float):
                errors.append(f"batch_size: expected a whole number or 'auto', got {self.batch_size!r}")
        if self.limit is not None:
            positive(errors, "limit", self.limit)
        self._check_comparisons(errors)

    def _check_comparisons(self, errors: list[str]) -> None:
        """Enrich compares the candidates of every set: refuse a ``profile`` under which no difference
        could ever come out significant (:meth:`ProfileConfig.comparison_problems`)."""
        if isinstance(self.profile, ProfileConfig):
            errors.extend(f"profile.{p}" for p in self.profile.comparison_problems())


@dataclass
class OneProgramConfig(EnrichConfig):
    """An enrich preset (and its overrides) as ``hydra-ray profile`` reads it: one program is measured
    and nothing is compared, so the samples need not be enough for a comparison (``profile.repeats=3``
    is fine); every other check is enrich's."""

    def _check_comparisons(self, errors: list[str]) -> None:
        pass


AUTO_MAX_BATCH = 16          # sets per actor call for large inputs (Ray Data's per-block cost amortized)
SETS_PER_ACTOR_BEFORE_BATCHING = 32   # below this many sets per actor, one set a call (balance, progress)
BYTES_PER_RECORD_GUESS = 1500         # a PIE pair record is 1.2-2.4 KB of JSON; a guess, only for "auto"


def resolve_batch_size(batch_size: int | str, input_bytes: int, limit: int | None, n_actors: int) -> int:
    """``auto``: 1 set per actor call for small inputs, so a few sets still spread over every actor and
    each finished set shows at once; up to 16 for large ones, where Ray Data's per-block cost (about
    20 ms a set at 1, on 2 cores) would otherwise dominate the pipeline. The input size is estimated
    from its bytes (the stream is never counted up front), capped by ``limit``."""
    if batch_size != "auto":
        return int(batch_size)
    sets = input_bytes // BYTES_PER_RECORD_GUESS
    if limit is not None:
        sets = min(sets, limit)
    return max(1, min(AUTO_MAX_BATCH, sets // (max(n_actors, 1) * SETS_PER_ACTOR_BEFORE_BATCHING)))
