"""Warm runner ("zygote") for ``inprocess`` and ``function`` runs; it lives inside the same sandbox.

Started once per sandbox session by the supervisor (``_runner.py``) with the programs' environment,
so the interpreter, ``site`` and the few standard modules the runners import are already loaded.
For each run it receives one command and four file descriptors (stdin, stdout, stderr, report) over
a ``SOCK_SEQPACKET`` socket, forks a child, reports the child's pid, reaps it with ``os.wait4`` and
reports its exit status, its own rusage and the time it was reaped.

What this process holds, and so what every forked child inherits, is nothing of any run: it never
reads a run's stdin (the child reads its own fd 0), never sees a run's stdout (the pipe goes to the
supervisor) and never sees an expected output (outputs are compared outside the sandbox). Its memory
holds commands (paths, limits) and past exit statuses only. A child is a forked copy, so nothing it
does reaches this process's memory.

The child applies exactly the limits and the private uid of a ``process`` run (the supervisor's
``_make_preexec``), points fds 0/1/2 at the run's files, and then:

- ``inprocess``: compiles the program and executes it as ``__main__``. Before executing it writes
  ``{"t0", "rss0_kb"}`` to the report fd, so the start time and the forked RSS baseline are fixed
  before any program code runs (a program can forge what it reports later, never these);
- ``function``: executes the setup once, then calls the entry point in a loop auto-ranged like
  ``timeit`` (at least ``min_calls`` calls and ``min_sample_ms`` per sample), repeats that loop up
  to ``loops`` times (fewer once ``max_run_ms`` is spent), ``loop_gap_ms`` apart (a pause, not timed),
  and reports the fastest (as with ``timeit.repeat``, slower loops measure other processes getting in
  the way; spread out, some loop is likely to run in a fast stretch of a swinging CPU), then makes one more
  call under ``tracemalloc``; the first call's output is the run's stdout, checked outside like any
  run.

When the run asks for it (``speed_probe``: the profiler's timing runs), the child times a fixed loop
before any program code runs (``_speed_probe``: the fastest of 5 runs of 4,000 additions, ~0.7 ms in
all) and writes it first to the report fd as ``probe_ns``: how fast this CPU is at the moment of the
run, which the profiler compares across rounds (a shared host's CPU speed swings). It lies outside
every timed window; throughput runs never ask for it, as it would be inside theirs.

Standard library only, like the supervisor.
"""
import builtins
import io
import json
import os
import socket
import sys
import time
import traceback
import types

from runner import _make_preexec  # the same limits and uid drop as a process run

REPORT_FD = 3


def _rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _report(obj):
    os.write(REPORT_FD, (json.dumps(obj) + "\n").encode())


def _speed_probe():
    """The fastest of 5 runs of a fixed loop of plain bytecode, in ns (see the module docstring)."""
    best = None
    for _ in range(5):
        t0 = time.perf_counter_ns()
        total = 0
        for i in range(4000):
            total += i
        elapsed = time.perf_counter_ns() - t0
        if best is None or elapsed < best:
            best = elapsed
    return best


def _exit_code(e):
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    try:
        sys.stderr.write(str(e.code) + "\n")
    except Exception:  # noqa: BLE001
        pass
    return 1


def _standard_streams():
    sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(open(2, "wb", closefd=False), encoding="utf-8",
                                                   errors="backslashreplace", line_buffering=True)


def _flush():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a program may have closed or replaced them
            pass


def _fresh_main(path):
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = builtins
    main.__cached__ = None
    sys.modules["__main__"] = main
    sys.argv = [path]
    sys.path[0] = os.path.dirname(path)
    return main


def _finish(code):
    """What the interpreter does at exit: atexit handlers, non-daemon threads, flushing."""
    try:
        import atexit
        atexit._run_exitfuncs()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    try:
        import threading
        threading._shutdown()
    except Exception:  # noqa: BLE001
        pass
    _flush()
    return code


def _run_program(cmd):
    with open(cmd["program"], encoding="utf-8") as f:
        source = f.read()
    code = compile(source, cmd["program"], "exec")
    main = _fresh_main(cmd["program"])
    del source
    if cmd.get("trace_memory"):
        import tracemalloc
        tracemalloc.start()
    rss0 = _rss_kb()
    t0 = time.perf_counter_ns()
    _report({"t0": t0, "rss0_kb": rss0})
    status = 0
    try:
        exec(code, main.__dict__)
    except SystemExit as e:
        status = _exit_code(e)
    except BaseException:  # noqa: BLE001 - the program's own uncaught exception
        traceback.print_exc()
        status = 1
    status = _finish(status)
    t1 = time.perf_counter_ns()
    out = {"t1": t1}
    if cmd.get("trace_memory"):
        import tracemalloc
        out["tracemalloc_peak_b"] = tracemalloc.get_traced_memory()[1]
    _report(out)
    return status


def _run_function(cmd):
    """The entry point in a timeit-style loop. Whole programs are called with fd 0 rewound."""
    import itertools
    import tracemalloc

    with open(cmd["program"], encoding="utf-8") as f:
        source = f.read()
    main = _fresh_main(cmd["program"])
    real_stdout = sys.stdout
    if cmd.get("call"):
        exec(compile(source, cmd["program"], "exec"), main.__dict__)   # setup: defines the function
        expr = compile(cmd["call"], "<entry point>", "eval")
        g = main.__dict__

        def call():
            return eval(expr, g)
    else:
        code = compile(source, cmd["program"], "exec")
        first = [True]
        stdin_copy = os.dup(0)   # a program may close fd 0 (open(0).read()); each call gets it back

        def call():
            if not first[0]:   # later calls write into a fresh in-memory stdout, dropped afterwards
                sys.stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
            first[0] = False
            os.dup2(stdin_copy, 0)
            os.lseek(0, 0, os.SEEK_SET)
            sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
            try:
                exec(code, {"__name__": "__main__", "__builtins__": builtins, "__file__": cmd["program"]})
            except SystemExit as e:
                if _exit_code(e):
                    raise
            sys.stdout.flush()
    del source
    rss0 = _rss_kb()
    t0 = time.perf_counter_ns()
    _report({"t0": t0, "rss0_kb": rss0})
    call()                                   # warm-up; its output is what gets checked
    _flush()
    sys.stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    min_calls, min_ns = int(cmd["min_calls"]), float(cmd["min_sample_ms"]) * 1e6
    number = 1
    while True:
        c0, s0 = time.thread_time_ns(), time.perf_counter_ns()
        for _ in itertools.repeat(None, number):
            call()
        s1, c1 = time.perf_counter_ns(), time.thread_time_ns()
        loop_ns = s1 - s0
        if loop_ns >= min_ns and number >= min_calls:
            break
        want = number * min_ns / max(loop_ns, 1) * 1.2
        number = int(min(max(number * 2, want, min_calls), number * 100))
    loops, cpus = [loop_ns], [c1 - c0]
    budget_ns = float(cmd.get("max_run_ms", 200.0)) * 1e6
    gap_s = max(0.0, float(cmd.get("loop_gap_ms") or 0.0)) / 1e3
    for _ in range(int(cmd.get("loops", 1)) - 1):   # more samples of `number` calls; the fastest counts
        if sum(loops) >= budget_ns:
            break   # slow calls: a few loops are plenty, and the run must stay within its time limit
        if gap_s:
            time.sleep(gap_s)   # spread the loops out: a slow stretch of the host CPU then spans fewer of them
        c0, s0 = time.thread_time_ns(), time.perf_counter_ns()
        for _ in itertools.repeat(None, number):
            call()
        s1, c1 = time.perf_counter_ns(), time.thread_time_ns()
        loops.append(s1 - s0)
        cpus.append(c1 - c0)
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    sys.stdout = real_stdout
    t1 = time.perf_counter_ns()
    _report({"t1": t1, "calls": number, "loop_ns": min(loops), "loops_total_ns": sum(loops),
             "loop_cpu_ns": min(cpus), "tracemalloc_peak_b": peak})
    return _finish(0)


def _child(cmd, fds, sock):
    stdin_fd, out_fd, err_fd, rep_fd = fds
    sock.close()
    os.dup2(stdin_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.dup2(rep_fd, REPORT_FD)
    os.closerange(REPORT_FD + 1, 1 << 16)
    os.chdir(cmd["workdir"])
    _make_preexec(cmd["limits"], cmd.get("uid"), cmd.get("gid"))()
    _standard_streams()
    if cmd.get("speed_probe"):
        _report({"probe_ns": _speed_probe()})   # first on the report fd, before any program code runs
    try:
        status = (_run_function if cmd["mode"] == "function" else _run_program)(cmd)
    except SystemExit as e:
        status = _exit_code(e)
        _flush()
    except BaseException:  # noqa: BLE001 - a setup error or a failing repeated call
        traceback.print_exc()
        _flush()
        status = 1
    os._exit(status)


def main():
    sock = socket.socket(fileno=int(sys.argv[1]))
    if os.getuid() != 0:
        # Programs will share our uid (no root, no private uid): at least keep them from reading or
        # writing our memory through /proc/<pid>/mem, as the supervisor does for itself.
        try:
            import ctypes
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
        except (OSError, AttributeError):
            pass
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        except OSError:
            return
        if not msg:
            return
        cmd = json.loads(msg)
        pid = os.fork()
        if pid == 0:
            try:
                _child(cmd, fds, sock)
            except BaseException:  # noqa: BLE001 - setting up the child failed: say why on its stderr
                try:
                    os.write(2, ("hydra-ray warm runner: could not start the run:\n"
                                 + traceback.format_exc()).encode())
                except OSError:
                    pass
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())
        _, status, ru = os.wait4(pid, 0)
        t_exit = time.perf_counter_ns()
        sock.send(json.dumps({"status": status, "t_exit_ns": t_exit, "user_s": ru.ru_utime,
                              "sys_s": ru.ru_stime, "max_rss_kb": ru.ru_maxrss}).encode())
        del cmd, msg, fds


if __name__ == "__main__":
    main()
