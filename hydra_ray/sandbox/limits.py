"""Resource limits of one sandboxed run (a typed, validated config section)."""
from __future__ import annotations

from dataclasses import dataclass

from hydra_ray.config import Config, one_of, positive


@dataclass
class SandboxLimits(Config):
    wall_time_s: float = 10.0       # per run, fork to exit
    cpu_time_s: float = 10.0        # RLIMIT_CPU
    memory_mb: int = 2048           # RLIMIT_AS (address space; numpy alone maps ~300 MB)
    file_size_mb: int = 16          # RLIMIT_FSIZE: largest file a program may write
    max_processes: int = 64         # RLIMIT_NPROC for the run's private uid
    open_files: int = 256           # RLIMIT_NOFILE
    max_output_kb: int = 1024       # stdout cap; beyond it the run ends as output_limit
    tmpfs_mb: int = 64              # size of each private scratch dir (/tmp, /dev/shm, /var/tmp)
    isolation: str = "auto"         # auto | bwrap | none (rlimits only; reported as such)

    def _check(self, errors: list[str]) -> None:
        for name in ("wall_time_s", "cpu_time_s", "memory_mb", "file_size_mb", "max_processes",
                     "open_files", "max_output_kb", "tmpfs_mb"):
            positive(errors, name, getattr(self, name))
        if isinstance(self.memory_mb, (int, float)) and 0 < self.memory_mb < 64:
            errors.append(f"memory_mb: {self.memory_mb} MB cannot even start Python; expected >= 64")
        if isinstance(self.max_processes, (int, float)) and 0 < self.max_processes < 4:
            errors.append(f"max_processes: expected >= 4 (the interpreter may start helper threads), "
                          f"got {self.max_processes}")
        one_of(errors, "isolation", self.isolation, ("auto", "bwrap", "none"))

    def scaled(self, factor: float) -> "SandboxLimits":
        """Same limits with time budgets multiplied (instrumented runs such as valgrind are slower)."""
        return self.replace(wall_time_s=self.wall_time_s * factor, cpu_time_s=self.cpu_time_s * factor)
