"""In-sandbox runner: executes a batch of program runs and reports each one as a JSON line.

Runs inside bubblewrap (or bare, as a fallback) with only the standard library (`python -I -S`).
It is the program's parent, so it measures what the caller cannot see through bwrap: wall time
from fork to exit (pidfd), and the program's own rusage via ``os.wait4`` (a per-run peak RSS, unlike
``RUSAGE_CHILDREN`` which is a lifetime high-water mark).

Per run: a fresh working directory; rlimits (CPU, address space, file size, processes, open files);
a new session (the program cannot signal the runner's process group); a drop to an unprivileged
uid when the runner is root; stdout read through a capped pipe; afterwards every other process in
the sandbox is killed and the scratch directories are wiped, so no run leaves anything for the next.

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


def _kill_others(job, uid, child_pid):
    """Kill whatever the run left behind (daemons, setsid double forks, pools).

    In our own pid namespace that is every process but pid 1 (bwrap's reaper) and us. Without one
    (fallback), only processes of the run's private uid, or else the run's session, are touched.
    """
    me = os.getpid()
    for _ in range(200):
        if job.get("own_pid_namespace"):
            others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        elif uid is not None:
            others = [int(p) for p in os.listdir("/proc") if p.isdigit() and _uid_of(p) == uid]
        else:
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


def run_one(run, job, uid, gid):
    limits = run["limits"]
    workdir = os.path.join(job["work_root"], "run")
    os.makedirs(workdir, exist_ok=True)
    if uid is not None:
        os.chown(workdir, uid, gid)
    os.chmod(workdir, 0o700)
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
    out_hash = hashlib.sha256()
    out_chunks, out_len, err_tail = [], 0, b""
    keep_stdout = run.get("want_stdout", True)
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
                out_len += len(chunk)
                out_hash.update(chunk)
                if keep_stdout:
                    out_chunks.append(chunk)
                if out_len > out_cap:
                    killed_for = "output_limit"
            else:
                err_tail = (err_tail + chunk)[-STDERR_TAIL:]
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
    _kill_others(job, uid, proc.pid)
    shutil.rmtree(workdir, ignore_errors=True)
    for scratch in job.get("scratch_dirs", []):
        if os.path.isdir(scratch):
            _wipe(scratch, job.get("keep", []))
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
        "stdout": b"".join(out_chunks).decode("utf-8", "replace") if keep_stdout else "",
        "stdout_sha256": out_hash.hexdigest(),
        "stdout_bytes": out_len,
        "stderr_tail": err_tail.decode("utf-8", "replace"),
    }


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
    for run in job["runs"]:
        _emit({"start": run["id"]})
        _emit({"result": dict(run_one(run, job, uid, gid), id=run["id"])})
    _emit({"done": True})


if __name__ == "__main__":
    main()
