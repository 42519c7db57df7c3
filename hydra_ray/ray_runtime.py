"""Starting and stopping Ray for a command: one place for the embedded default, quiet output and
a complete shutdown.

* ``connect(...)`` joins a cluster when asked (``address`` or ``$RAY_ADDRESS``, as ``ray job
  submit`` sets it), else starts our own embedded Ray (``address="local"``: never a cluster someone
  else started on this machine).
* Without ``-v/--verbose`` (``$HYDRA_RAY_VERBOSE``) Ray's own chatter stays out of the terminal:
  its INFO/WARNING logs, the C++ core worker's log lines, and everything workers and actors print
  (Ray Train's placement-group cleaner, actor warnings, a traceback per worker). Ray still writes
  all of it to its session directory, which ``connect`` prints once.
* ``shutdown()`` stops Ray and then every process of that embedded session that survived it:
  ``ray.shutdown()`` alone leaves ``ray::DashboardAgent`` and ``ray::RuntimeEnvAgent`` behind
  (they ignore SIGTERM), which matters for Ctrl-C and for SIGTERM from systemd, Kubernetes or
  ``timeout``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from typing import Any, Callable

VERBOSE_ENV = "HYDRA_RAY_VERBOSE"
_state: dict[str, Any] = {}


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")


def set_verbose(on: bool) -> None:
    os.environ[VERBOSE_ENV] = "1" if on else "0"
    if not on:
        quiet_environment()


def quiet_environment() -> None:
    """Settings that must be in place before Ray, Ray Data or Ray Train print anything."""
    # The driver's C++ core worker logs to stderr (e.g. "has constructor arguments in the object
    # store"); errors that matter reach us as Python exceptions anyway.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.getLogger("ray").setLevel(logging.ERROR)
    # transformers/accelerate import DeepSpeed when it is installed; on a CPU-only node it warns
    # "Setting accelerator to CPU" on every start. Its logger resets its level, not our filter.
    logging.getLogger("DeepSpeed").addFilter(lambda record: record.levelno >= logging.ERROR)
    # peft imports bitsandbytes, whose CPU backend (on AVX512-BF16 CPUs) warns "Failed to load CPU
    # gemm_4bit_forward … pip install kernels" when offline: it falls back to its own kernel, and
    # nothing here uses 4-bit on CPU outside the QLoRA tests. Shown at the top of `evaluate
    # --optimizer hydra` (the model in process), it read as a failure of the run.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # peft reads transformers' deprecated `is_gradient_checkpointing` when it wraps a model: a
    # library's note to its developers, printed on every adapter load.
    import warnings

    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def quiet_console_handlers() -> None:
    """Ray Data, Train and Serve attach their own console handlers when imported (INFO); their log
    files keep everything, the terminal gets errors only. Covers the modules imported so far: a
    caller that imports one later calls this again (importing all three here costs ~3 s a start)."""
    if verbose():
        return
    for name in ("ray", "ray.data", "ray.train", "ray.serve", "ray.tune"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.ERROR)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: ``finally`` blocks run, Ray is shut down, work is kept."""


def _raise_terminated(signum, frame):
    _state["sigterm"] = True
    raise Terminated()


def terminated() -> bool:
    """Whether SIGTERM arrived: a library on the way (Ray's ``ray.get``, Ray Train) may turn our
    :class:`Terminated` into a plain KeyboardInterrupt, and the exit status must still say SIGTERM."""
    return bool(_state.get("sigterm"))


def handle_sigterm() -> None:
    """SIGTERM raises :class:`Terminated` in the main thread (ray.init installs ``sys.exit``)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def last_session_dir() -> str | None:
    """The session directory of the Ray this process last started or joined (kept after shutdown)."""
    return _state.get("session_dir")


def session_dir() -> str | None:
    try:
        import ray

        return ray._private.worker._global_node.get_session_dir_path()  # noqa: SLF001 - no public API
    except Exception:  # noqa: BLE001 - informational only
        return None


def connect(address: str | None = None, *, num_cpus: int | None = None, include_dashboard: bool | None = False,
            runtime_env: dict | None = None, emit: Callable[[str], None] | None = print) -> bool:
    """Start or join Ray unless it already runs in this process. True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    loud = verbose()
    if not loud:
        quiet_environment()
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"log_to_driver": loud,
                              "logging_level": logging.INFO if loud else logging.ERROR}
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    if address and address != "local":
        kwargs["address"] = address
        where = f"Ray cluster at {address}"
    else:
        kwargs.update(address="local", num_cpus=num_cpus)
        if include_dashboard is not None:
            kwargs["include_dashboard"] = include_dashboard
        where = "embedded Ray"
    for attempt in (1, 2):
        try:
            _init(ray, kwargs, loud)
            break
        except Exception as e:  # noqa: BLE001 - only Ray's start-up timeout is retried
            # Ray gives a new raylet 30 s (fixed) to register; on an overloaded machine it can miss
            # that once. A second start usually makes it; anything else is raised as it is.
            if attempt == 2 or kwargs["address"] != "local" or "timed out during startup" not in str(e):
                raise
            shutdown()
            if emit is not None:
                emit("[ray] the embedded Ray did not start within Ray's 30 s (machine busy?); trying once more")
    if not loud:
        quiet_console_handlers()
    _state["embedded"] = kwargs["address"] == "local"
    handle_sigterm()
    logs = _state["session_dir"] = session_dir()
    if emit is not None:
        did = "started" if _state["embedded"] else "joined"   # a cluster someone else started
        emit(f"[ray] {where} {did}; Ray's own logs: {logs}/logs" if logs else f"[ray] {where} {did}")
    return True


def _init(ray, kwargs: dict, loud: bool) -> None:
    try:
        _init_once(ray, kwargs, loud)
    except SystemExit as e:
        # ray.init's own SIGTERM handler (sys.exit) stands until connect() installs ours again.
        if e.code == signal.SIGTERM:
            raise Terminated() from None
        raise


def _init_once(ray, kwargs: dict, loud: bool) -> None:
    if loud:
        ray.init(**kwargs)
        return
    with _stderr_to_file() as captured:   # the C++ start-up lines; shown if init fails
        try:
            ray.init(**kwargs)
        except BaseException as e:
            if not isinstance(e, (KeyboardInterrupt, SystemExit)):   # a signal is not a failed start
                captured.seek(0)
                sys.stderr.write(captured.read().decode(errors="replace"))
            raise


@contextlib.contextmanager
def _stderr_to_file():
    """Redirect file descriptor 2 (C++ code writes there directly) into a temporary file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            yield f
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _session_processes() -> list:
    """Descendants of this process that belong to Ray (gcs, raylet, workers, agents, dashboard)."""
    import psutil

    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            text = " ".join([p.name(), *p.cmdline()])
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if "ray::" in text or "/ray/" in text or "gcs_server" in text or "raylet" in text:
            found.append(p)
    return found


def shutdown(grace_s: float = 3.0) -> None:
    """``ray.shutdown()``, then SIGKILL whatever of our embedded session outlived it."""
    import psutil
    import ray

    embedded = _state.pop("embedded", True)
    leftovers = _session_processes() if embedded else []
    ray.shutdown()   # also after a failed start: it clears the half-started node
    if not leftovers:
        return
    _gone, alive = psutil.wait_procs(leftovers, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace_s)


def first_cause(error: BaseException) -> BaseException:
    """The innermost cause of an error (through Ray's task/actor/Train wrappers)."""
    *_, e = _causes(error)
    return e


def _causes(error: BaseException):
    """The error, then each cause inside it, innermost last."""
    seen: set[int] = set()
    e = error
    while id(e) not in seen:
        yield e
        seen.add(id(e))
        inner = (getattr(e, "cause", None) if isinstance(getattr(e, "cause", None), BaseException) else None) \
            or e.__cause__
        failures = getattr(e, "worker_failures", None)
        if inner is None and isinstance(failures, dict) and failures:
            inner = next(iter(failures.values()))
        if not isinstance(inner, BaseException):
            break
        e = inner


# Python's traceback text between an exception and the one it caused (``raise … from …``).
_CAUSE_MARKER = "The above exception was the direct cause of the following exception:"


def error_line(error: BaseException, max_lines: int = 8) -> str:
    """``Type: message`` of what went wrong, for a person: the first cause through Ray's wrappers,
    its message's last ``max_lines`` lines (a remote error's text may be a whole traceback).

    Ray Data wraps an exception raised in user code (a ``map_batches`` actor, e.g. enrich's
    profiler) in ``UserCodeException`` ("UDF failed to process a data block"): its ``__cause__``,
    the real error, does not survive the trip to the driver (Ray pickles exceptions, and pickling
    drops ``__cause__``); only the traceback text the ``RayTaskError`` around it carries still
    names it. Then that error's lines, from the text."""
    cause = first_cause(error)
    if _is_user_code_wrapper(cause):
        for e in _causes(error):
            inner = _raised_before_wrapper(str(e))
            if inner:
                return "\n".join(inner[:max_lines])   # its first line names the type
    lines = [ln for ln in str(cause).splitlines() if ln.strip()]
    return f"{type(cause).__name__}: " + "\n".join(lines[-max_lines:]) if lines else type(cause).__name__


def _is_user_code_wrapper(e: BaseException) -> bool:
    exceptions = sys.modules.get("ray.exceptions")   # not imported: not a Ray error
    return exceptions is not None and isinstance(e, exceptions.UserCodeException)


def _raised_before_wrapper(text: str) -> list[str]:
    """The lines (``Type: message``; a message may span lines) of the exception the last one in a
    traceback ``text`` was raised from: those after the last frame before the last cause marker.
    Empty when the text holds no chained traceback."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    if _CAUSE_MARKER not in lines:
        return []
    before = lines[:len(lines) - 1 - lines[::-1].index(_CAUSE_MARKER)]
    frames = [i for i, ln in enumerate(before) if ln.startswith("  File ")]
    if not frames:
        return []
    start = frames[-1] + 1
    while start < len(before) and before[start].startswith("    "):   # the frame's source line and ^^^ marks
        start += 1
    return [ln for ln in before[start:] if ln.strip()]


def wait_gone(pids: list[int], timeout_s: float = 10.0) -> list[int]:
    """The pids still alive after ``timeout_s`` (tests and callers checking a clean stop)."""
    import psutil

    deadline = time.monotonic() + timeout_s
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    return left
