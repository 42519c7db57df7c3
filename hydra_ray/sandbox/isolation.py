"""Which isolation this node offers, probed once per process, and the bwrap command line.

bubblewrap gives a read-only view of the system directories only (no home directories, no
project checkout, no /opt or /var), private /tmp, /dev/shm and /var/tmp, no network, and a fresh pid
namespace (killing its init takes every leftover process with it). Started as root, we keep only
CAP_SETUID/SETGID/KILL for the in-sandbox runner, which drops each program to a private uid; without
root, bwrap uses a user namespace and the program shares the runner's uid (weaker; reported).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IsolationInfo:
    mechanism: str          # "bwrap" or "none"
    network_isolated: bool
    private_uid: bool       # programs run under their own unprivileged uid
    detail: str


# The setting as a user types it ("sandbox.isolation=none" is no key of any command).
_NONE_KEY = "profile.sandbox.isolation=none (serve: verification.profile.sandbox.isolation=none)"


def unreachable_interpreter(python: str = sys.executable, stdlib: str | None = None) -> str | None:
    """Why a private unprivileged uid cannot run ``python`` on the host's own file tree, or None.

    Without bubblewrap, root still drops each program to a private uid, but nothing is mounted for it:
    an interpreter under a 0700 directory (pyenv in /root, the usual Docker image) cannot even be
    executed, and every run failed as "calibration failed ... could not start program: Permission
    denied" with no word of why. (Under bwrap the interpreter's parents are recreated 0755.)"""
    targets = [os.path.realpath(python), os.path.realpath(stdlib or os.path.dirname(os.__file__))]
    for target in targets:
        for parent in reversed(Path(target).parents):
            mode = parent.stat().st_mode
            if not mode & 0o001:
                return f"{parent} is mode {oct(mode & 0o777)[2:]}, so other users cannot enter it"
    if not os.stat(targets[0]).st_mode & 0o001:
        return f"{targets[0]} is not executable by other users"
    return None


@functools.lru_cache(maxsize=None)
def probe_isolation(requested: str = "auto") -> IsolationInfo:
    bwrap = shutil.which("bwrap")
    root = os.geteuid() == 0
    if requested in ("auto", "bwrap") and bwrap:
        argv = [bwrap, *base_bwrap_args(tmpfs_mb=8, root=root), "--", "/bin/true"]
        try:
            res = subprocess.run(argv, env={}, capture_output=True, timeout=20)
            if res.returncode == 0:
                return IsolationInfo("bwrap", True, root,
                                     "bubblewrap: system directories read-only and nothing else of the host, private tmp, "
                                     "no network, own pid namespace"
                                     + ("" if root else "; not root, so programs share the runner's uid"))
            why = res.stderr.decode(errors="replace").strip()[-300:]
        except (OSError, subprocess.TimeoutExpired) as e:
            why = str(e)
        if requested == "bwrap":
            raise RuntimeError(f"sandbox.isolation=bwrap but bubblewrap does not work here: {why}. "
                               "Install it (apt-get install -y bubblewrap) or set " + _NONE_KEY + ".")
        detail = f"bubblewrap failed ({why}); rlimits only, network NOT isolated"
    elif requested == "bwrap":
        raise RuntimeError("sandbox.isolation=bwrap but `bwrap` is not on PATH. Install it "
                           "(apt-get install -y bubblewrap) or set " + _NONE_KEY + ".")
    else:
        detail = ("bubblewrap not installed (apt-get install -y bubblewrap); " if requested == "auto"
                  else "isolation=none requested; ") + "rlimits only, network NOT isolated"
    return IsolationInfo("none", False, root, detail)


# What a program sees of the host: the system directories an interpreter and its tools (valgrind, perf)
# need, read-only, and nothing else. Not the whole root with holes punched in it: a service runs
# untrusted code, and the host's other directories (the project's checkout and .git, /opt, /var/lib,
# /srv, /mnt, home directories) hold what it must not read or send back in a traceback.
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")


def interpreter_paths() -> list[str]:
    """Directories the sandboxed interpreter needs (its prefix and a venv's), wherever they live."""
    paths = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, os.path.dirname(sys.executable),
                                          os.path.dirname(os.path.realpath(sys.executable)))}
    outside = sorted(p for p in paths if not any(p == d or p.startswith(d + "/") for d in _SYSTEM))
    return [p for p in outside if not any(p != q and p.startswith(q + "/") for q in outside)]


def base_bwrap_args(*, tmpfs_mb: int, root: bool) -> list[str]:
    size = str(int(tmpfs_mb) * 1024 * 1024)
    args = ["--dev", "/dev", "--proc", "/proc"]
    for path in _SYSTEM:
        if os.path.islink(path):   # merged /usr: /bin -> usr/bin, kept as the same link
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in interpreter_paths():  # read-only at the same path, so venvs and pyenv keep working
        parts = path.split("/")
        for depth in range(2, len(parts)):  # its parents exist (empty) and can be traversed
            args += ["--perms", "0755", "--dir", "/".join(parts[:depth])]
        args += ["--ro-bind", path, path]
    for scratch in ("/tmp", "/dev/shm", "/var/tmp"):
        args += ["--perms", "1777", "--size", size, "--tmpfs", scratch]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
             "--hostname", "sandbox", "--die-with-parent", "--new-session", "--chdir", "/tmp"]
    if root:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_KILL"]
    else:
        args += ["--unshare-user"]
    return args


def isolation_capabilities() -> list:
    """Doctor lines for the sandbox: mechanism, network, uid drop."""
    from hydra_ray.metrics.backends import Capability

    info = probe_isolation("auto")
    blocked = unreachable_interpreter() if info.mechanism == "none" and info.private_uid else None
    uid = Capability("private uid", info.private_uid,
                     "each session's programs run as their own unprivileged uid" if info.private_uid
                     else "programs share the runner's uid (not root): RLIMIT_NPROC is shared")
    if blocked:
        uid = Capability("private uid", False, f"programs would run as their own uid, which cannot run "
                         f"{sys.executable}: {blocked}; nothing can be measured until bubblewrap is installed "
                         "or a Python other users can run is used")
    return [
        Capability("bubblewrap", info.mechanism == "bwrap", info.detail),
        Capability("network isolation", info.network_isolated,
                   "own network namespace" if info.network_isolated else "programs can reach the network"),
        uid,
    ]
