"""The sandbox against real hostile programs: each gets a verdict and harms neither host nor run."""
import os
import textwrap
import time
from pathlib import Path

import pytest

from hydra_ray.sandbox.compare import first_mismatch, outputs_match
from hydra_ray.sandbox.limits import SandboxLimits
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


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_gets_verdict_and_next_run_is_clean(sandbox, name):
    code, expected = HOSTILE[name]
    t0 = time.monotonic()
    results = sandbox.run_batch(
        {"bad": code, "good": "print(int(input()) * 2)\n"},
        [RunSpec("bad"), RunSpec("good", "21\n", "42\n")])
    assert time.monotonic() - t0 < 30
    bad, good = results
    assert bad.verdict is not Verdict.PASSED and bad.verdict is not Verdict.SANDBOX_ERROR, bad
    if expected is not None:
        assert bad.verdict is expected, (bad.verdict, bad.detail, bad.stderr_tail[-300:])
    assert good.verdict is Verdict.PASSED, (good.verdict, good.detail, good.stderr_tail)


def test_no_network(sandbox):
    r = sandbox.run(src("""
        import socket
        s = socket.socket()
        s.settimeout(2)
        s.connect(("1.1.1.1", 80))
        print("connected")
        """))
    assert r.verdict is Verdict.RUNTIME_ERROR
    assert "connected" not in r.stdout


def test_cannot_write_outside_its_directory(sandbox, tmp_path):
    target = tmp_path / "pwned"
    home = Path.home() / "hydra-pwned"
    r = sandbox.run(f"open({str(target)!r}, 'w').write('x')\nopen({str(home)!r}, 'w').write('x')\n")
    assert r.verdict is Verdict.RUNTIME_ERROR
    assert not target.exists() and not home.exists()


def test_environment_is_scrubbed_including_pid1(sandbox, monkeypatch):
    monkeypatch.setenv("HYDRA_TEST_SECRET", "s3cr3t-token")
    r = sandbox.run(src("""
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


def test_home_directory_secrets_are_hidden(sandbox):
    r = sandbox.run("import os\nprint(sorted(os.listdir('/root')) if os.path.isdir('/root') else [])\n")
    assert r.verdict is Verdict.PASSED
    assert ".ssh" not in r.stdout and ".bash_history" not in r.stdout


def test_runs_as_unprivileged_uid_when_root(sandbox):
    r = sandbox.run("import os\nprint(os.getuid())\n")
    if os.geteuid() == 0:
        assert int(r.stdout) != 0


def test_leftovers_do_not_reach_the_next_run(sandbox):
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
                                      [RunSpec("leaver"), RunSpec("checker")])
    assert first.verdict is Verdict.PASSED, first.stderr_tail
    n_left, n_procs = map(int, second.stdout.split())
    assert n_left == 0
    assert n_procs <= 3  # bwrap's init, the runner, the checker itself


def test_fresh_working_directory_each_run(sandbox):
    a, b = sandbox.run_batch({"w": "import os\nprint(os.listdir('.'))\nopen('mine', 'w').write('1')\n"},
                             [RunSpec("w"), RunSpec("w")])
    assert a.stdout.strip() == "[]" and b.stdout.strip() == "[]"


def test_per_run_peak_memory_is_per_run(sandbox):
    """ru_maxrss of RUSAGE_CHILDREN would carry the big run's peak into the small one."""
    big, small = sandbox.run_batch({"big": "x = bytearray(200 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\n",
                                    "small": "pass\n"}, [RunSpec("big"), RunSpec("small")])
    assert big.max_rss_kb > 150_000
    assert small.max_rss_kb < 60_000


def test_stderr_tail_and_exit_code(sandbox):
    r = sandbox.run("import sys\nprint('some output')\nsys.exit(3)\n")
    assert r.verdict is Verdict.RUNTIME_ERROR and r.exit_code == 3 and "exit status 3" in r.detail


def test_wrong_answer_names_the_line(sandbox):
    r = sandbox.run("print(1)\nprint(2)\n", expected="1\n3\n")
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
