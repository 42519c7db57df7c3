"""Run programs in the sandbox: one sandbox session executes a batch of runs.

A batch (e.g. every repeat of both candidates of a pair, interleaved) shares one bwrap start and one
in-sandbox runner, so the per-run cost is a plain fork/exec of the interpreter — the same as running
``python prog.py < in`` bare. Every run still gets a fresh working directory, its own rlimits and a
clean slate (leftover processes killed, scratch dirs wiped) — see ``_runner.py``.

If a program kills the runner (it can, in the non-root fallback where they share a uid), the run in
flight gets ``runtime_error`` and the rest of the batch continues in a fresh session.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from hydra_ray.sandbox import cancel, progress
from hydra_ray.sandbox.compare import first_mismatch
from hydra_ray.sandbox.isolation import IsolationInfo, base_bwrap_args, probe_isolation, unreachable_interpreter
from hydra_ray.sandbox.limits import SandboxLimits
from hydra_ray.sandbox.verdict import RunResult, Verdict

RUNNER = Path(__file__).with_name("_runner.py")
WARM = Path(__file__).with_name("_warm.py")
MODES = ("process", "inprocess", "function")
# Passed through to programs: everything else of the caller's environment (API keys, tokens) is dropped.
_ENV_PASSTHROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# uids for sandboxed programs: one per concurrent session, so RLIMIT_NPROC is not shared between them.
_UID_BASE = 200_000


@dataclass
class RunSpec:
    program: str                         # key into the batch's programs
    stdin: str = ""
    expected: str | None = None          # compare stdout when given
    argv_prefix: Sequence[str] = ()      # e.g. a valgrind or perf command line
    want_stdout: bool = True
    limits: SandboxLimits | None = None  # per-run override (instrumented runs need longer)
    float_tol: float | None = None
    # process: a fresh `python prog.py`; inprocess: forked from the session's warm runner and run as
    # __main__; function: the entry point (`call`, an expression evaluated after running the program
    # as setup; None: the whole program, stdin rewound each call) in a timeit-style loop.
    mode: str = "process"
    trace_memory: bool = False           # inprocess: tracemalloc during the run (slower; not for timing)
    call: str | None = None
    min_calls: int = 1                   # function: at least this many calls per sample ...
    min_sample_ms: float = 20.0          # ... and at least this long
    loops: int = 1                       # function: samples of that many calls; the fastest is reported
    max_run_ms: float = 200.0            # function: no further loops once this much time is spent in them
    loop_gap_ms: float = 0.0             # function: a pause between loops (not timed), spreading them out
    speed_probe: bool = False            # inprocess/function: the child times a fixed loop first (probe_ns)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"RunSpec.mode: expected one of {list(MODES)}, got {self.mode!r}")
        if self.speed_probe and self.mode == "process":
            raise ValueError("RunSpec.speed_probe: the probe is taken by a warm runner's child; mode 'process' "
                             "has none (use a separate inprocess run)")
        if self.mode != "process" and self.argv_prefix:
            raise ValueError(f"RunSpec.argv_prefix: a command prefix (perf, valgrind) needs mode 'process', "
                             f"got mode {self.mode!r}")


@dataclass
class Sandbox:
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    python: str = sys.executable
    rapl_files: list[str] = field(default_factory=list)   # read around each run when RAPL is used

    def __post_init__(self) -> None:
        self.info: IsolationInfo = probe_isolation(self.limits.isolation)
        blocked = unreachable_interpreter(self.python) if self.info.mechanism == "none" and self.info.private_uid \
            else None
        if blocked:   # else every run fails as "could not start program: Permission denied"
            raise RuntimeError(f"no bubblewrap here ({self.info.detail}), so each program runs on the host as a "
                               f"private unprivileged uid, which cannot run {self.python}: {blocked}. Install "
                               "bubblewrap (apt-get install -y bubblewrap), or run hydra-ray with a Python that "
                               "other users can run (e.g. a venv outside /root)")

    def program_env(self) -> dict[str, str]:
        env = {
            "PATH": f"{Path(self.python).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
            # Fixed hash seed and single-threaded BLAS: repeatable runs, one pinned core.
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        }
        env.update({k: os.environ[k] for k in _ENV_PASSTHROUGH if k in os.environ})
        return env

    def run(self, source: str, stdin: str = "", expected: str | None = None, **kw) -> RunResult:
        return self.run_batch({"main": source}, [RunSpec("main", stdin, expected, **kw)])[0]

    def run_batch(self, programs: dict[str, str], specs: Sequence[RunSpec]) -> list[RunResult]:
        results: list[RunResult | None] = [None] * len(specs)
        pending = list(range(len(specs)))
        while pending:
            done = self._session(programs, specs, pending, results)
            pending = [i for i in pending if results[i] is None]
            if not done:
                break  # nothing progressed; never loop on a broken session
        return [r for r in results if r is not None]

    # -- one bwrap session over the runs in ``indices`` ------------------------------------------
    def _session(self, programs, specs, indices, results) -> set[int]:
        tmp = Path(tempfile.mkdtemp(prefix="hydra-sbx-"))
        try:
            return self._session_in(tmp, programs, specs, indices, results)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _session_in(self, tmp: Path, programs, specs, indices, results) -> set[int]:
        token = cancel.current()   # the caller may stop its work between sessions and during one
        if token is not None:
            token.check()
        bwrap = self.info.mechanism == "bwrap"
        job_root = "/tmp/.hydra-job" if bwrap else str(tmp)
        for name, src in programs.items():
            (tmp / f"prog_{_safe(name)}.py").write_text(src, encoding="utf-8")
        runs = []
        for i in indices:
            spec = specs[i]
            (tmp / f"in_{i}.txt").write_text(spec.stdin, encoding="utf-8")
            lim = spec.limits or self.limits
            runs.append({
                "id": i,
                "argv": [*spec.argv_prefix, self.python, f"{job_root}/prog_{_safe(spec.program)}.py"],
                "program_path": f"{job_root}/prog_{_safe(spec.program)}.py",
                "stdin_path": f"{job_root}/in_{i}.txt",
                "mode": spec.mode, "trace_memory": spec.trace_memory, "call": spec.call,
                "min_calls": spec.min_calls, "min_sample_ms": spec.min_sample_ms, "loops": spec.loops,
                "max_run_ms": spec.max_run_ms, "loop_gap_ms": spec.loop_gap_ms, "speed_probe": spec.speed_probe,
                "want_stdout": spec.want_stdout or spec.expected is not None,
                "limits": {k: getattr(lim, k) for k in ("wall_time_s", "cpu_time_s", "memory_mb", "file_size_mb",
                                                         "max_processes", "open_files", "max_output_kb")},
            })
        root = os.geteuid() == 0
        uid = _session_uid() if root else None
        job = {
            "runs": runs, "env": self.program_env(), "run_as_uid": uid, "run_as_gid": uid,
            "own_pid_namespace": bwrap,
            "work_root": "/tmp/.hydra" if bwrap else str(tmp / "work"),
            "scratch_dirs": ["/tmp", "/dev/shm", "/var/tmp"] if bwrap else [],
            "keep": [job_root],
            "rapl_files": self.rapl_files,
            "python": self.python, "warm_path": f"{job_root}/warm.py",
        }
        (tmp / "job.json").write_text(json.dumps(job))
        runner = [self.python, "-I", "-S", f"{job_root}/runner.py", f"{job_root}/job.json"]
        shutil.copy(RUNNER, tmp / "runner.py")
        shutil.copy(WARM, tmp / "warm.py")
        os.chmod(tmp, 0o755)
        for p in tmp.iterdir():
            # With a private uid, the runs' inputs and the job are the runner's alone: it opens a
            # run's stdin for it, so no program can read another run's input from the job folder.
            private = root and (p.name.startswith("in_") or p.name == "job.json")
            os.chmod(p, 0o600 if private else 0o644)
        if bwrap:
            argv = ["bwrap", *base_bwrap_args(tmpfs_mb=self.limits.tmpfs_mb, root=root),
                    "--ro-bind", str(tmp), job_root, "--", *runner]
        else:
            argv = runner
        budget = sum(r["limits"]["wall_time_s"] + 2.0 for r in runs) + 10.0
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={}, start_new_session=True)
        if token is not None:
            token.attach(proc.pid)
        sink = progress.current()   # enrich's per-set progress (sandbox/progress.py); None elsewhere
        try:
            if sink is not None:
                sink.session(len(runs))
                out, err = progress.read_session(proc, budget, sink)
            else:
                out, err = proc.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        finally:
            if token is not None:
                token.detach()
        if token is not None:
            token.check()   # killed for the caller: its runs' results are not the programs' doing
        finished: set[int] = set()
        in_flight = None
        for line in out.decode("utf-8", "replace").splitlines():
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "start" in msg:
                in_flight = msg["start"]
            elif "result" in msg:
                raw = msg["result"]
                i = raw["id"]
                if raw.get("stderr_tail"):
                    # A traceback names the program as the caller knows it, not by its copy in here.
                    raw["stderr_tail"] = raw["stderr_tail"].replace(
                        f"{job_root}/prog_{_safe(specs[i].program)}.py", specs[i].program)
                results[i] = classify(raw, specs[i], specs[i].limits or self.limits)
                finished.add(i)
                in_flight = None
        if in_flight is not None and results[in_flight] is None:
            results[in_flight] = RunResult(
                Verdict.RUNTIME_ERROR,
                "the program killed or crashed its supervisor (the sandbox runner)",
                stderr_tail=err.decode("utf-8", "replace")[-2000:])
            finished.add(in_flight)
        elif not finished and indices:
            # The session failed before any run: a sandbox problem, not the program's.
            why = err.decode("utf-8", "replace").strip()[-1500:] or f"exit status {proc.returncode}"
            for i in indices:
                results[i] = RunResult(Verdict.SANDBOX_ERROR, f"sandbox session failed: {why}")
                finished.add(i)
        return finished


_uid_slots = itertools.count()
_uid_lock = threading.Lock()


def _session_uid() -> int:
    """A uid for this session: distinct across processes (pid) and across up to 16 concurrent
    sessions of one process (e.g. a threaded server), so no two share RLIMIT_NPROC."""
    with _uid_lock:
        slot = next(_uid_slots) % 16
    return _UID_BASE + (os.getpid() % 50_000) * 16 + slot


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")


def classify(raw: dict, spec: RunSpec, limits: SandboxLimits) -> RunResult:
    """Turn the runner's raw report into a typed verdict (comparing output when expected is given)."""
    if "verdict" in raw:  # the runner could not even start the program, or lost its warm runner
        return RunResult(Verdict(raw["verdict"]), raw.get("detail", ""), stderr_tail=raw.get("stderr_tail", ""))
    res = RunResult(Verdict.PASSED, "", raw["exit_code"], raw["signal"], raw["wall_ns"], raw["user_s"],
                    raw["sys_s"], raw["max_rss_kb"], raw["stdout"], raw["stderr_tail"],
                    {"stdout_sha256": raw["stdout_sha256"], "stdout_bytes": raw["stdout_bytes"],
                     "t_start_ns": raw["t_start_ns"], "t_end_ns": raw["t_end_ns"],
                     "mode": raw.get("mode", "process"), "rss_growth_kb": raw.get("rss_growth_kb"),
                     "tracemalloc_peak_kb": (raw["tracemalloc_peak_b"] / 1024
                                             if raw.get("tracemalloc_peak_b") is not None else None),
                     "fork_ns": raw.get("fork_ns"), "calls": raw.get("calls"), "loop_ns": raw.get("loop_ns"),
                     "loop_cpu_ns": raw.get("loop_cpu_ns"), "probe_ns": raw.get("probe_ns"),
                     "energy_uj": (raw["energy_uj"][1] - raw["energy_uj"][0]) if raw.get("energy_uj") else None})
    sig, tail = raw["signal"], raw["stderr_tail"]
    if raw["killed_for"] == "timeout":
        res.verdict, res.detail = Verdict.TIMEOUT, f"wall time limit of {limits.wall_time_s:g} s exceeded"
    elif raw["killed_for"] == "output_limit":
        res.verdict, res.detail = Verdict.OUTPUT_LIMIT, f"stdout exceeded {limits.max_output_kb} KB"
    elif sig in (signal.SIGXCPU,) or (sig == signal.SIGKILL and raw["user_s"] + raw["sys_s"] >= limits.cpu_time_s):
        res.verdict, res.detail = Verdict.TIMEOUT, f"CPU time limit of {limits.cpu_time_s:g} s exceeded"
    elif any(m in tail for m in _MEMORY_MARKERS) or (
            sig in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT)
            and raw["max_rss_kb"] >= 0.9 * limits.memory_mb * 1024):
        res.verdict, res.detail = Verdict.MEMORY_LIMIT, f"memory limit of {limits.memory_mb} MB exceeded"
    elif sig is not None:
        res.verdict, res.detail = Verdict.RUNTIME_ERROR, f"killed by signal {signal.Signals(sig).name}"
    elif raw["exit_code"] != 0:
        last = tail.strip().splitlines()[-1] if tail.strip() else ""
        res.verdict, res.detail = Verdict.RUNTIME_ERROR, f"exit status {raw['exit_code']}: {last}"[:300]
    elif spec.expected is not None:
        mm = first_mismatch(raw["stdout"], spec.expected, spec.float_tol)
        if mm is not None:
            res.verdict, res.detail = Verdict.WRONG_ANSWER, mm.describe()[:300]
    return res
