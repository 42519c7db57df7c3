"""Without bubblewrap, root still runs each program as a private uid, on the host's own file tree. An
interpreter under a 0700 directory (pyenv in /root, the usual Docker image) cannot be run by that uid:
every profile failed as "calibration failed ... could not start program: [Errno 13] Permission denied"
and doctor said "✓ private uid". Both now say why, and what to do."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_ray.sandbox.isolation import unreachable_interpreter

REPO = Path(__file__).resolve().parents[1]


def test_an_interpreter_behind_a_closed_directory_is_named():
    import tempfile

    # not pytest's tmp_path: its /tmp/pytest-of-root is itself closed to other users
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        _check_closed_and_open(Path(tmp))


def _check_closed_and_open(tmp_path: Path) -> None:
    for d in ("open/bin", "closed/bin", "lib"):
        (tmp_path / d).mkdir(parents=True)
    for d in (tmp_path, tmp_path / "open", tmp_path / "open/bin", tmp_path / "lib"):
        d.chmod(0o755)
    (tmp_path / "closed").chmod(0o700)
    for exe in ("open/bin/python", "closed/bin/python"):
        (tmp_path / exe).write_text("")
        (tmp_path / exe).chmod(0o755)
    if unreachable_interpreter(str(tmp_path / "open/bin/python"), str(tmp_path / "lib")) is not None:
        pytest.skip("the temporary directory's own parents are closed to other users")
    assert unreachable_interpreter(str(tmp_path / "closed/bin/python"), str(tmp_path / "lib")) == \
        f"{tmp_path / 'closed'} is mode 700, so other users cannot enter it"
    (tmp_path / "open/bin/python").chmod(0o700)
    assert "is not executable by other users" in unreachable_interpreter(str(tmp_path / "open/bin/python"),
                                                                         str(tmp_path / "lib"))


def test_profile_and_doctor_without_bwrap_say_why_nothing_runs(tmp_path):
    python = os.path.realpath(sys.executable)
    blocked = unreachable_interpreter(python)
    if os.geteuid() != 0 or blocked is None:
        pytest.skip("needs root and an interpreter other users cannot run (pyenv under /root)")
    bin_dir = tmp_path / "bin"   # a PATH with the usual tools but no bwrap
    bin_dir.mkdir()
    for tool in ("sh", "bash", "env", "perf", "valgrind"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    (tmp_path / "p.py").write_text("print(1)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": str(bin_dir)}
    r = subprocess.run([python, "-m", "hydra_ray", "profile", "p.py"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "Permission denied" not in r.stderr, r.stderr
    assert f"private unprivileged uid, which cannot run {python}: {blocked}. Install bubblewrap" in r.stderr, r.stderr
    r = subprocess.run([python, "-m", "hydra_ray", "doctor"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"✗ private uid       programs would run as their own uid, which cannot run {python}: {blocked}" in \
        r.stdout, r.stdout
