"""The sandbox against real hostile programs: each gets a verdict and harms neither host nor run.

Every hostile-program test runs in every measurement mode (``process``, ``inprocess``, ``function``):
a mode that forks from a warm runner must not weaken any of them.
"""
import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hydra_ray.sandbox.compare import first_mismatch, outputs_match
from hydra_ray.sandbox.limits import SandboxLimits
from hydra_ray.sandbox.modes import MODES
from hydra_ray.sandbox.runner import RunSpec, Sandbox
from hydra_ray.sandbox.verdict import Verdict
from hydra_ray.config import ConfigError

FAST = SandboxLimits(wall_time_s=3, cpu_time_s=3, memory_mb=512, max_processes=32, max_output_kb=64,
                     file_size_mb=4, tmpfs_mb=16)


@pytest.fixture(scope="module")
def sandbox():
    sb = Sandbox(FAST)
    if sb.info.mechanism != "bwrap":
        pytest.skip(f"bubblewrap unavailable: {sb.info.detail}")
    return sb


def src(code: str) -> str:
    return textwrap.dedent(code)


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


def spec(program, stdin="", expected=None, *, mode="process", **kw):
    return RunSpec(program, stdin, expected, mode=mode, min_sample_ms=1.0, **kw)


def run1(sandbox, mode, code, stdin="", expected=None):
    return sandbox.run_batch({"main": code}, [spec("main", stdin, expected, mode=mode)])[0]


HOSTILE = {
    "infinite_loop": ("while True:\n    pass\n", Verdict.TIMEOUT),
    "sleeps_forever": ("import time\ntime.sleep(10**6)\n", Verdict.TIMEOUT),
    "memory_bomb": ("x = []\nwhile True:\n    x.append(bytearray(50 * 2**20))\n", Verdict.MEMORY_LIMIT),
    "output_flood": ("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", Verdict.OUTPUT_LIMIT),
    "disk_filler": ("with open('big', 'wb') as f:\n    while True:\n        f.write(b'0' * 2**20)\n",
                    Verdict.RUNTIME_ERROR),
    "fork_bomb": (src("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """), None),  # timeout or runtime_error: what matters is containment
    "kills_parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time; time.sleep(5)\n", None),
    "kills_process_group": ("import os, signal\nos.killpg(0, signal.SIGKILL)\n", Verdict.RUNTIME_ERROR),
    "kill_everything": ("import os, signal\nos.kill(-1, signal.SIGKILL)\nimport time; time.sleep(5)\n", None),
    "raises": ("raise ValueError('boom')\n", Verdict.RUNTIME_ERROR),
}


# The hostile run's own limits: a second of wall and CPU time is enough to show each is contained, and
# 192 MB, which a memory bomb fills well within that second even on a loaded host.
HOSTILE_LIMITS = FAST.replace(wall_time_s=1, cpu_time_s=1, memory_mb=192)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_gets_verdict_and_next_run_is_clean(sandbox, name, mode):
    code, expected = HOSTILE[name]
    t0 = time.monotonic()
    results = sandbox.run_batch(
        {"bad": code, "good": "print(int(input()) * 2)\n"},
        [spec("bad", mode=mode, limits=HOSTILE_LIMITS), spec("good", "21\n", "42\n", mode=mode)])
    assert time.monotonic() - t0 < 30
    bad, good = results
    assert bad.verdict is not Verdict.PASSED and bad.verdict is not Verdict.SANDBOX_ERROR, bad
    if expected is not None:
        assert bad.verdict is expected, (bad.verdict, bad.detail, bad.stderr_tail[-300:])
    assert good.verdict is Verdict.PASSED, (good.verdict, good.detail, good.stderr_tail)


def test_no_network(sandbox, mode):
    r = run1(sandbox, mode, src("""
        import socket
        s = socket.socket()
        s.settimeout(2)
        s.connect(("1.1.1.1", 80))
        print("connected")
        """))
    assert r.verdict is Verdict.RUNTIME_ERROR
    assert "connected" not in r.stdout


def test_cannot_write_outside_its_directory(sandbox, tmp_path, mode):
    target = tmp_path / "pwned"
    home = Path.home() / "hydra-pwned"
    r = run1(sandbox, mode, f"open({str(target)!r}, 'w').write('x')\nopen({str(home)!r}, 'w').write('x')\n")
    assert r.verdict is Verdict.RUNTIME_ERROR
    assert not target.exists() and not home.exists()


def test_environment_is_scrubbed_including_pid1(sandbox, monkeypatch, mode):
    monkeypatch.setenv("HYDRA_TEST_SECRET", "s3cr3t-token")
    r = run1(sandbox, mode, src("""
        import os
        found = []
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                try:
                    found.append(open(f'/proc/{pid}/environ', 'rb').read())
                except OSError:
                    pass
        print(any(b's3cr3t' in e for e in found), 's3cr3t' in str(os.environ))
        """))
    assert r.verdict is Verdict.PASSED, r.stderr_tail
    assert r.stdout.split() == ["False", "False"]


def test_home_directory_secrets_are_hidden(sandbox, mode):
    r = run1(sandbox, mode, "import os\nprint(sorted(os.listdir('/root')) if os.path.isdir('/root') else [])\n")
    assert r.verdict is Verdict.PASSED
    assert ".ssh" not in r.stdout and ".bash_history" not in r.stdout


def test_nothing_of_the_host_but_the_system_directories_and_the_interpreter_is_visible(sandbox, mode):
    """A served program's traceback goes back to the caller, so what it can open it can send back: the
    project's checkout (its .git/config), /opt, /var/lib, /srv and /mnt must not be there. A folder on
    the way to the interpreter (a venv in the checkout, /opt/conda) exists, holding that way alone."""
    checkout = str(Path(__file__).resolve().parents[1])
    probe = ("import os, json, ssl, decimal\n"
             f"for p in {[checkout, checkout + '/.git/config', '/opt', '/var/lib', '/srv', '/mnt', '/work']!r}:\n"
             "    print(json.dumps([p, sorted(os.listdir(p)) if os.path.isdir(p) else os.path.exists(p)]))\n")
    r = run1(sandbox, mode, probe)
    assert r.verdict is Verdict.PASSED, (r.detail, r.stderr_tail)
    interpreter = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)]
    for path, seen in map(json.loads, r.stdout.splitlines()):
        way = {i[len(path) + 1:].split("/")[0] for i in interpreter if i.startswith(path + "/")}
        assert seen is False or (way and set(seen) <= way), (path, seen)


def test_runs_as_unprivileged_uid_when_root(sandbox, mode):
    r = run1(sandbox, mode, "import os\nprint(os.getuid())\n")
    if os.geteuid() == 0:
        assert int(r.stdout) != 0


def test_leftovers_do_not_reach_the_next_run(sandbox, mode):
    """A daemon (setsid + double fork) and files in /tmp, /dev/shm must not survive into run 2."""
    leaver = src("""
        import os, time
        for d in ('/tmp', '/dev/shm', '/var/tmp'):
            open(os.path.join(d, 'left.txt'), 'w').write('x')
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(30)
            os._exit(0)
        print('ok')
        """)
    checker = src("""
        import os
        left = [d for d in ('/tmp', '/dev/shm', '/var/tmp') if os.path.exists(os.path.join(d, 'left.txt'))]
        procs = [p for p in os.listdir('/proc') if p.isdigit()]
        print(len(left), len(procs))
        """)
    first, second = sandbox.run_batch({"leaver": leaver, "checker": checker},
                                      [spec("leaver", mode=mode), spec("checker", mode=mode)])
    assert first.verdict is Verdict.PASSED, first.stderr_tail
    n_left, n_procs = map(int, second.stdout.split())
    assert n_left == 0
    assert n_procs <= (3 if mode == "process" else 4)  # bwrap's init, the runner, [the warm runner,] the checker


def test_fresh_working_directory_each_run(sandbox, mode):
    a, b = sandbox.run_batch({"w": "import os\nprint(os.listdir('.'))\nopen('mine', 'w').write('1')\n"},
                             [spec("w", mode=mode), spec("w", mode=mode)])
    assert a.stdout.strip() == "[]" and b.stdout.strip() == "[]"


def test_per_run_peak_memory_is_per_run(sandbox, mode):
    """ru_maxrss of RUSAGE_CHILDREN would carry the big run's peak into the small one."""
    big, small = sandbox.run_batch({"big": "x = bytearray(200 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\n",
                                    "small": "pass\n"}, [spec("big", mode=mode), spec("small", mode=mode)])
    assert big.max_rss_kb > 150_000
    assert small.max_rss_kb < 60_000


def test_stderr_tail_and_exit_code(sandbox, mode):
    r = run1(sandbox, mode, "import sys\nprint('some output')\nsys.exit(3)\n")
    assert r.verdict is Verdict.RUNTIME_ERROR and r.exit_code == 3 and "exit status 3" in r.detail


def test_traceback_names_the_program_not_the_sandbox_copy(sandbox, mode):
    r = sandbox.run_batch({"div.py": "x = int(input())\nprint(1 / x)\n"}, [spec("div.py", "0\n", mode=mode)])[0]
    assert r.verdict is Verdict.RUNTIME_ERROR and "ZeroDivisionError" in r.stderr_tail
    assert 'File "div.py", line 2' in r.stderr_tail and "prog_" not in r.stderr_tail, r.stderr_tail


def test_wrong_answer_names_the_line(sandbox, mode):
    r = run1(sandbox, mode, "print(1)\nprint(2)\n", expected="1\n3\n")
    assert r.verdict is Verdict.WRONG_ANSWER and "line 2" in r.detail


def test_comparison_rules():
    assert outputs_match("1 2  \n3\n\n", "1 2\n3")
    assert not outputs_match("1 2\n", "1 3\n")
    assert not outputs_match("0.3333333\n", "0.33333333333\n")
    assert outputs_match("0.3333333\n", "0.33333333333\n", float_tol=1e-6)
    assert outputs_match("1000000.5\n", "1000000.0\n", float_tol=1e-6)  # relative above 1
    assert not outputs_match("abc\n", "abd\n", float_tol=1e-6)
    assert first_mismatch("1\n", "1\n2\n").line == 2


def test_limits_validation_names_every_bad_field():
    with pytest.raises(ConfigError) as e:
        SandboxLimits(wall_time_s=-1, memory_mb=10, isolation="docker")
    msg = str(e.value)
    assert "wall_time_s" in msg and "memory_mb" in msg and "isolation" in msg


# A program that looks for given strings everywhere it can reach in its own process: objects the
# garbage collector tracks, every module's globals, every frame, and the raw bytes of every anonymous
# memory mapping (heap, pymalloc arenas, stacks). A forked child holds a copy of the warm runner's
# memory, so anything an earlier run left there would show up here. The needles arrive reversed and
# are compared by address, so the scanner's own copies do not count.
MEMORY_SCANNER = src("""
    import ctypes, gc, sys
    needles = [w[::-1] for w in sys.stdin.read().split()]
    raw = [n.encode() for n in needles]
    own = {id(n) + sys.getsizeof(n) - len(n) - 1 for n in needles}
    own |= {id(b) + sys.getsizeof(b) - len(b) - 1 for b in raw}

    def text(x):
        return isinstance(x, (str, bytes, bytearray)) and not any(x is n or x is b for n, b in zip(needles, raw))

    def hit(x):
        x = x.decode('latin-1') if isinstance(x, (bytes, bytearray)) else x
        return any(n in x for n in needles)

    in_objects = 0
    for obj in gc.get_objects():
        for ref in gc.get_referents(obj):
            if text(ref) and hit(ref):
                in_objects += 1
    for mod in list(sys.modules.values()):
        for value in list(getattr(mod, '__dict__', {}).values()):
            if text(value) and hit(value):
                in_objects += 1
    for frame in sys._current_frames().values():
        while frame is not None:
            for value in list(frame.f_locals.values()):
                if text(value) and hit(value):
                    in_objects += 1
            frame = frame.f_back

    CHUNK = 1 << 20
    buf = bytearray(CHUNK + 4096)
    buf_at = ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))
    in_memory = 0
    for line in open('/proc/self/maps'):
        fields = line.split()
        if 'r' not in fields[1] or (len(fields) > 5 and not fields[5].startswith('[heap')
                                    and not fields[5].startswith('[stack')):
            continue   # anonymous mappings, the heap and the stack only (file mappings may SIGBUS)
        lo, hi = (int(x, 16) for x in fields[0].split('-'))
        at = lo
        while at < hi:
            size = min(len(buf), hi - at)
            ctypes.memmove(buf_at, at, size)
            for needle in raw:
                pos = buf.find(needle, 0, size)
                while pos >= 0:
                    where = at + pos
                    if where not in own and not buf_at <= where < buf_at + len(buf):
                        in_memory += 1
                    pos = buf.find(needle, pos + 1, size)
            at += CHUNK
    print(in_objects, in_memory)
    """)


def test_a_run_cannot_find_what_earlier_runs_left_in_the_runner(sandbox, mode):
    """Inputs, outputs and expected outputs of earlier runs are nowhere in a later run's process."""
    token = os.urandom(8).hex()
    secret_in, secret_out = f"INPUT-{token}", f"EXPECTED-{token}"
    echo = "s = input()\nprint(s.replace('INPUT', 'EXPECTED'))\n"
    needles = " ".join(x[::-1] for x in (secret_in, secret_out))
    results = sandbox.run_batch({"echo": echo, "scan": MEMORY_SCANNER},
                                [spec("echo", secret_in + "\n", secret_out + "\n", mode=mode),
                                 spec("echo", secret_in + "\n", secret_out + "\n", mode=mode),
                                 spec("scan", needles, mode=mode)])
    assert results[0].verdict is Verdict.PASSED, (results[0].detail, results[0].stderr_tail)
    scan = results[2]
    assert scan.verdict is Verdict.PASSED, (scan.detail, scan.stderr_tail[-1500:])
    in_objects, in_memory = map(int, scan.stdout.split())
    assert (in_objects, in_memory) == (0, 0)


def test_the_scanner_does_find_what_is_in_its_own_memory(sandbox):
    """The scanner above can fail: a string of its own process (a global) is found by both scans."""
    token = os.urandom(8).hex()
    planted = f"PLANTED-{token}"
    program = f"kept = {planted[::-1]!r}[::-1]\n" + MEMORY_SCANNER
    r = run1(sandbox, "inprocess", program, planted[::-1])
    assert r.verdict is Verdict.PASSED, r.stderr_tail[-1500:]
    in_objects, in_memory = map(int, r.stdout.split())
    assert in_objects >= 1 and in_memory >= 1


def test_a_program_cannot_read_other_runs_inputs(sandbox, mode):
    if os.geteuid() != 0:
        pytest.skip("inputs are private to the runner only when it can give programs their own uid")
    reader = src("""
        import glob
        found = []
        for path in sorted(glob.glob('/tmp/.hydra-job/*')):
            try:
                found.append((path, open(path).read()[:40]))
            except OSError:
                pass
        print(sum('in_' in p or 'job.json' in p for p, _ in found))
        """)
    first, second = sandbox.run_batch({"echo": "print(input())\n", "reader": reader},
                                      [spec("echo", "private-input\n", mode=mode), spec("reader", mode=mode)])
    assert first.verdict is Verdict.PASSED and second.verdict is Verdict.PASSED, second.stderr_tail
    assert second.stdout.strip() == "0"


@pytest.mark.parametrize("warm_mode", ["inprocess", "function"])
def test_the_speed_probe_is_taken_before_the_program_and_cannot_be_forged(sandbox, warm_mode):
    """A timing run with ``speed_probe`` reports the child's own timing of a fixed loop (~tens of µs
    or more for 4,000 additions), written before any program code ran; a program that writes its own
    ``probe_ns`` to the report fd first thing does not replace it. Runs without the flag carry none."""
    forger = src("""
        import os
        os.write(3, b'{"probe_ns": 1, "t0": 1}\\n')
        def f():
            return 1
        print(1)
        """)
    call = "f()" if warm_mode == "function" else None
    probed, forged, plain = sandbox.run_batch(
        {"ok": "def f():\n    return 1\nprint(1)\n", "forger": forger},
        [spec("ok", "", "1\n", mode=warm_mode, call=call, speed_probe=True),
         spec("forger", "", "1\n", mode=warm_mode, call=call, speed_probe=True),
         spec("ok", "", "1\n", mode=warm_mode, call=call)])
    for r in (probed, forged, plain):
        assert r.verdict is Verdict.PASSED, (r.verdict, r.detail, r.stderr_tail)
    assert isinstance(probed.extra["probe_ns"], int) and probed.extra["probe_ns"] > 10_000
    assert forged.extra["probe_ns"] > 10_000                 # the child's figure, not the program's 1
    assert plain.extra["probe_ns"] is None
    with pytest.raises(ValueError, match="speed_probe"):
        RunSpec("ok", mode="process", speed_probe=True)


def test_function_loops_are_spread_by_the_gap_and_the_gap_is_not_timed(sandbox):
    """``loop_gap_ms`` pauses between the loops of a function-mode run: 10 loops 30 ms apart take at
    least 9 × 30 ms of wall time more than back to back, yet the reported loop time (the fastest loop)
    stays that of the calls alone, far below a pause."""
    code = "def f():\n    return sum(range(100))\nprint(f())\n"
    back, spread = sandbox.run_batch({"f": code}, [
        spec("f", "", "4950\n", mode="function", call="f()", loops=10, loop_gap_ms=0.0),
        spec("f", "", "4950\n", mode="function", call="f()", loops=10, loop_gap_ms=30.0)])
    for r in (back, spread):
        assert r.verdict is Verdict.PASSED, (r.verdict, r.detail, r.stderr_tail)
    assert spread.wall_ms - back.wall_ms >= 9 * 30 * 0.9
    loop_ms = spread.extra["loop_ns"] / 1e6
    assert loop_ms < 30 and spread.extra["calls"] >= 1   # one loop of ≥ 1 ms of calls, no pause in it
