"""In-sandbox runner: executes a batch of program runs and reports each one as a JSON line.

Runs inside bubblewrap (or bare, as a fallback) with only the standard library (`python -I -S`).
It is the program's parent, so it measures what the caller cannot see through bwrap: wall time
from fork to exit (pidfd), and the program's own rusage via ``os.wait4`` (a per-run peak RSS, unlike
``RUSAGE_CHILDREN`` which is a lifetime high-water mark).

Per run: a fresh working directory; rlimits (CPU, address space, file size, processes, open files);
a new session (the program cannot signal the runner's process group); a drop to an unprivileged
uid when the runner is root; stdout read through a capped pipe; afterwards every other process in
the sandbox is killed and the scratch directories are wiped, so no run leaves anything for the next.

Runs in mode ``inprocess`` or ``function`` are forked by a warm runner (``_warm.py``, started once
per session, lazily) instead of started with ``Popen``; this process still owns the pipes, the
deadline, the kill and the clean-up, and is the only one that ever sees a run's output.

Protocol: argv[1] is a JSON job file; output lines are {"start": id} before and {"result": {...}}
after each run, so the caller knows which run was in flight if the runner itself dies.
"""
import ctypes
import hashlib
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time

STDERR_TAIL = 4096


def _emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _read_energy_uj(files):
    """Sum of the RAPL package counters (root-only readable; the runner is root when that matters)."""
    if not files:
        return None
    try:
        total = 0
        for path in files:
            with open(path) as f:
                total += int(f.read())
        return total
    except (OSError, ValueError):
        return None


def _make_preexec(limits, uid, gid):
    def preexec():
        os.setsid()
        cpu = max(1, int(limits["cpu_time_s"] + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        mem = int(limits["memory_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        fsize = int(limits["file_size_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(limits["open_files"]),) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None:
            # NPROC counts per real uid, which is why each sandbox session gets its own uid.
            resource.setrlimit(resource.RLIMIT_NPROC, (int(limits["max_processes"]),) * 2)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        else:
            nproc = int(limits["max_processes"])
            try:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            except (ValueError, OSError):
                pass
    return preexec


def _uid_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _kill_others(job, uid, child_pid, spare=()):
    """Kill whatever the run left behind (daemons, setsid double forks, pools).

    In our own pid namespace that is every process but pid 1 (bwrap's reaper) and us. Without one
    (fallback), only processes of the run's private uid, or else the run's session, are touched.
    """
    me = os.getpid()
    for _ in range(200):
        if job.get("own_pid_namespace"):
            others = [int(p) for p in os.listdir("/proc")
                      if p.isdigit() and int(p) not in (1, me) and int(p) not in spare]
        elif uid is not None:
            others = [int(p) for p in os.listdir("/proc")
                      if p.isdigit() and _uid_of(p) == uid and int(p) not in spare]
        else:
            if child_pid and child_pid > 0:   # a warm run may end before its child was even reported
                try:
                    os.killpg(child_pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            return
        if not others:
            return
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)


def _wipe(path, keep):
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if full in keep:
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except OSError:
                pass


def _workdir(job, uid, gid):
    workdir = os.path.join(job["work_root"], "run")
    os.makedirs(workdir, exist_ok=True)
    if uid is not None:
        os.chown(workdir, uid, gid)
    os.chmod(workdir, 0o700)
    return workdir


def _clean_up(job, uid, pid, workdir, spare=()):
    _kill_others(job, uid, pid, spare)
    shutil.rmtree(workdir, ignore_errors=True)
    for scratch in job.get("scratch_dirs", []):
        if os.path.isdir(scratch):
            _wipe(scratch, job.get("keep", []))


class _Capture:
    """A run's stdout (hashed, kept unless not wanted, capped) and the tail of its stderr: what both
    the process runner and the warm runner's supervisor read from the program's pipes."""

    def __init__(self, keep_stdout, out_cap):
        self.keep_stdout, self.out_cap = keep_stdout, out_cap
        self.hash = hashlib.sha256()
        self.chunks, self.out_len, self.err_tail = [], 0, b""

    def stdout(self, chunk):
        """Take a chunk of stdout; True when the output is now over its cap."""
        self.out_len += len(chunk)
        self.hash.update(chunk)
        if self.keep_stdout:
            self.chunks.append(chunk)
        return self.out_len > self.out_cap

    def stderr(self, chunk):
        self.err_tail = (self.err_tail + chunk)[-STDERR_TAIL:]

    def stderr_text(self):
        return self.err_tail.decode("utf-8", "replace")

    def fields(self):
        return {"stdout": b"".join(self.chunks).decode("utf-8", "replace") if self.keep_stdout else "",
                "stdout_sha256": self.hash.hexdigest(), "stdout_bytes": self.out_len,
                "stderr_tail": self.stderr_text()}


def run_one(run, job, uid, gid, spare=()):
    limits = run["limits"]
    workdir = _workdir(job, uid, gid)
    stdin = open(run["stdin_path"], "rb")
    out_cap = int(limits["max_output_kb"]) * 1024
    energy0 = _read_energy_uj(job.get("rapl_files"))
    t0 = time.perf_counter_ns()
    try:
        proc = subprocess.Popen(run["argv"], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=workdir, env=job["env"], close_fds=True,
                                preexec_fn=_make_preexec(limits, uid, gid))
    except OSError as e:
        stdin.close()
        return {"verdict": "sandbox_error", "detail": f"could not start program: {e}"}
    stdin.close()
    pidfd = os.pidfd_open(proc.pid)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    sel.register(pidfd, selectors.EVENT_READ, "exit")
    cap = _Capture(run.get("want_stdout", True), out_cap)
    deadline = time.monotonic() + float(limits["wall_time_s"])
    t_exit, killed_for = None, None
    open_pipes = 2
    while True:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            killed_for = "timeout"
            break
        if t_exit is not None and open_pipes == 0:
            break
        if t_exit is not None:
            # The program exited; a leftover grandchild may hold the pipes open. Drain briefly.
            timeout = min(timeout, 0.05)
        events = sel.select(timeout)
        if not events and t_exit is not None:
            break
        for key, _ in events:
            if key.data == "exit":
                t_exit = time.perf_counter_ns()
                sel.unregister(pidfd)
                continue
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_pipes -= 1
            elif key.data == "out":
                if cap.stdout(chunk):
                    killed_for = "output_limit"
            else:
                cap.stderr(chunk)
        if killed_for:
            break
    if killed_for:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status, ru = os.wait4(proc.pid, 0)
    if t_exit is None:
        t_exit = time.perf_counter_ns()
    energy1 = _read_energy_uj(job.get("rapl_files"))
    proc.returncode = status  # keep Popen from reaping again
    sel.close()
    os.close(pidfd)
    proc.stdout.close()
    proc.stderr.close()
    _clean_up(job, uid, proc.pid, workdir, spare)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return {
        "killed_for": killed_for,
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": sig,
        "wall_ns": t_exit - t0,
        "t_start_ns": t0,   # CLOCK_MONOTONIC: lets the caller time bursts of back-to-back runs
        "t_end_ns": t_exit,
        "energy_uj": None if energy0 is None or energy1 is None else [energy0, energy1],
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "max_rss_kb": ru.ru_maxrss,
        **cap.fields(),
        "mode": "process",
    }


class Warm:
    """The warm runner of this session (started on first use, restarted if a program killed it)."""

    def __init__(self, job):
        self.job, self.proc, self.sock = job, None, None

    def ensure(self):
        if self.proc is not None and self.proc.poll() is None:
            return
        self.close()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([job_python(self.job), self.job["warm_path"], str(theirs.fileno())],
                                     stdin=subprocess.DEVNULL, pass_fds=[theirs.fileno()], env=self.job["env"],
                                     cwd=self.job["work_root"], start_new_session=True)
        theirs.close()
        self.sock = mine

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None


def job_python(job):
    return job.get("python") or sys.executable


def run_warm(run, job, uid, gid, warm):
    """One ``inprocess``/``function`` run: the warm runner forks it; we own pipes, deadline, clean-up."""
    limits = run["limits"]
    workdir = _workdir(job, uid, gid)
    warm.ensure()
    out_cap = int(limits["max_output_kb"]) * 1024
    stdin_fd = os.open(run["stdin_path"], os.O_RDONLY)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    rep_r, rep_w = os.pipe()
    cmd = {"mode": run["mode"], "program": run["program_path"], "workdir": workdir, "limits": limits,
           "uid": uid, "gid": gid, "trace_memory": bool(run.get("trace_memory")), "call": run.get("call"),
           "min_calls": run.get("min_calls", 1), "min_sample_ms": run.get("min_sample_ms", 10.0),
           "loops": run.get("loops", 1), "max_run_ms": run.get("max_run_ms", 200.0),
           "loop_gap_ms": run.get("loop_gap_ms", 0.0), "speed_probe": bool(run.get("speed_probe"))}
    energy0 = _read_energy_uj(job.get("rapl_files"))
    t_sent = time.perf_counter_ns()
    try:
        socket.send_fds(warm.sock, [json.dumps(cmd).encode()], [stdin_fd, out_w, err_w, rep_w])
        sent = True
    except OSError:
        sent = False
    for fd in (stdin_fd, out_w, err_w, rep_w):
        os.close(fd)
    sel = selectors.DefaultSelector()
    for fd, tag in ((out_r, "out"), (err_r, "err"), (rep_r, "rep")):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, tag)
    if sent:
        sel.register(warm.sock, selectors.EVENT_READ, "warm")
    cap, rep_buf = _Capture(run.get("want_stdout", True), out_cap), b""
    deadline = time.monotonic() + float(limits["wall_time_s"])
    child_pid, exit_msg, killed_for, warm_lost = None, None, None, not sent
    open_pipes = 3
    while not warm_lost:
        timeout = deadline - time.monotonic()
        if exit_msg is not None and open_pipes == 0:
            break
        if timeout < -5.0:   # killed 5 s ago and still not reaped (or pipes held by a leftover)
            warm_lost = exit_msg is None
            break
        if timeout <= 0:
            if killed_for is None:
                killed_for = "timeout"
            if child_pid is not None:
                _kill_pid(child_pid)
            timeout = 2.0   # the warm runner still reports the exit of the killed child
        if exit_msg is not None:
            timeout = min(timeout, 0.05)
        events = sel.select(timeout)
        if not events and exit_msg is not None:
            break
        for key, _ in events:
            if key.data == "warm":
                try:
                    raw = warm.sock.recv(65536)
                except OSError:
                    raw = b""
                if not raw:
                    warm_lost = True
                    break
                msg = json.loads(raw)
                if "pid" in msg:
                    child_pid = msg["pid"]
                    if killed_for is not None:
                        _kill_pid(child_pid)
                else:
                    exit_msg = msg
                    sel.unregister(warm.sock)
                continue
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fd)
                open_pipes -= 1
            elif key.data == "out":
                if cap.stdout(chunk) and killed_for is None:
                    killed_for = "output_limit"
                    if child_pid is not None:
                        _kill_pid(child_pid)
            elif key.data == "err":
                cap.stderr(chunk)
            elif len(rep_buf) < 65536:
                rep_buf += chunk
    sel.close()
    for fd in (out_r, err_r, rep_r):
        os.close(fd)
    energy1 = _read_energy_uj(job.get("rapl_files"))
    if warm_lost:
        if child_pid is not None:
            _kill_pid(child_pid)
        warm.close()
    _clean_up(job, uid, child_pid or -1, workdir, spare=() if warm.pid is None else (warm.pid,))
    if exit_msg is None:
        return {"verdict": "runtime_error",
                "detail": "the program killed or crashed its supervisor (the warm runner)",
                "stderr_tail": cap.stderr_text()}
    report = {}
    for line in rep_buf.decode("utf-8", "replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k not in report and isinstance(v, (int, float)) and not isinstance(v, bool):
                    report[k] = v   # first value wins: t0 and rss0_kb were written before the program ran
    status = exit_msg["status"]
    t_exit = exit_msg["t_exit_ns"]
    t0 = report.get("t0")
    if not isinstance(t0, int) or not t_sent <= t0 <= t_exit:
        t0 = None
    rss0 = report.get("rss0_kb")
    growth = max(0, exit_msg["max_rss_kb"] - rss0) if isinstance(rss0, (int, float)) and rss0 > 0 else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    res = {
        "killed_for": killed_for,
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": sig,
        # Start: written by the child before any program code ran; end: the warm runner reaped it.
        "wall_ns": t_exit - (t0 if t0 is not None else t_sent),
        "t_start_ns": t0 if t0 is not None else t_sent,
        "t_end_ns": t_exit,
        "fork_ns": (t0 - t_sent) if t0 is not None else None,
        "energy_uj": None if energy0 is None or energy1 is None else [energy0, energy1],
        "user_s": exit_msg["user_s"],
        "sys_s": exit_msg["sys_s"],
        "max_rss_kb": exit_msg["max_rss_kb"],
        "rss_growth_kb": growth,
        "tracemalloc_peak_b": report.get("tracemalloc_peak_b"),
        # The child's CPU speed probe, written before any program code ran (see _warm.py).
        "probe_ns": report.get("probe_ns") if isinstance(report.get("probe_ns"), int) else None,
        **cap.fields(),
        "mode": run["mode"],
    }
    if run["mode"] == "function" and killed_for is None and status == 0:
        calls, loop_ns, total = report.get("calls"), report.get("loop_ns"), report.get("loops_total_ns")
        # Figures the child reported about its own loops: they must fit inside what we saw from outside.
        if not (isinstance(calls, int) and calls > 0 and isinstance(loop_ns, int) and isinstance(total, int)
                and 0 < loop_ns <= total <= res["wall_ns"]):
            res["exit_code"] = 1
            res["stderr_tail"] += ("\nhydra-ray: the function-mode loop report is missing or inconsistent with "
                                   "the outside clock")
        else:
            res["calls"], res["loop_ns"] = calls, loop_ns
            res["loop_cpu_ns"] = report.get("loop_cpu_ns")
    return res


def _kill_pid(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    uid = gid = None
    if os.getuid() == 0 and job.get("run_as_uid") is not None:
        uid, gid = int(job["run_as_uid"]), int(job["run_as_gid"])
    else:
        # Same uid as the program: at least stop it reading our memory and fds through /proc.
        try:
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
        except (OSError, AttributeError):
            pass
    os.makedirs(job["work_root"], exist_ok=True)
    warm = Warm(job)
    try:
        for run in job["runs"]:
            _emit({"start": run["id"]})
            if run.get("mode", "process") == "process":
                # A process run in a mixed batch must not take the warm runner down with its leftovers.
                res = run_one(run, job, uid, gid, spare=(warm.pid,) if warm.pid else ())
            else:
                res = run_warm(run, job, uid, gid, warm)
            _emit({"result": dict(res, id=run["id"])})
    finally:
        warm.close()
    _emit({"done": True})


if __name__ == "__main__":
    main()
