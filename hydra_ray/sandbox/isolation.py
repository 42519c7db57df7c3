"""Which isolation this node offers, probed once per process, and the bwrap command line.

bubblewrap gives a read-only root, private /tmp, /dev/shm and /var/tmp, no network, and a fresh pid
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


@dataclass(frozen=True)
class IsolationInfo:
    mechanism: str          # "bwrap" or "none"
    network_isolated: bool
    private_uid: bool       # programs run under their own unprivileged uid
    detail: str


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
                                     "bubblewrap: read-only root, private tmp, no network, own pid namespace"
                                     + ("" if root else "; not root, so programs share the runner's uid"))
            why = res.stderr.decode(errors="replace").strip()[-300:]
        except (OSError, subprocess.TimeoutExpired) as e:
            why = str(e)
        if requested == "bwrap":
            raise RuntimeError(f"sandbox.isolation=bwrap but bubblewrap does not work here: {why}. "
                               "Install it (apt-get install -y bubblewrap) or set sandbox.isolation=none.")
        detail = f"bubblewrap failed ({why}); rlimits only, network NOT isolated"
    elif requested == "bwrap":
        raise RuntimeError("sandbox.isolation=bwrap but `bwrap` is not on PATH. Install it "
                           "(apt-get install -y bubblewrap) or set sandbox.isolation=none.")
    else:
        detail = ("bubblewrap not installed (apt-get install -y bubblewrap); " if requested == "auto"
                  else "isolation=none requested; ") + "rlimits only, network NOT isolated"
    return IsolationInfo("none", False, root, detail)


_HIDDEN = ("/root", "/home")  # home directories hold the caller's secrets (keys, tokens, history)


def interpreter_paths() -> list[str]:
    """Directories the sandboxed interpreter needs, even when they live under a hidden home dir."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
             os.path.dirname(os.path.realpath(sys.executable))}
    hidden = sorted(p for p in paths if any(p.startswith(h + "/") for h in _HIDDEN))
    return [p for p in hidden if not any(p != q and p.startswith(q + "/") for q in hidden)]


def base_bwrap_args(*, tmpfs_mb: int, root: bool) -> list[str]:
    size = str(int(tmpfs_mb) * 1024 * 1024)
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for hidden in _HIDDEN:
        if os.path.isdir(hidden):
            args += ["--perms", "0755", "--tmpfs", hidden]
    for path in interpreter_paths():  # re-exposed read-only at the same path, so venvs keep working
        parts = path.split("/")
        for depth in range(3, len(parts)):  # parents below /root or /home, traversable
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
    return [
        Capability("bubblewrap", info.mechanism == "bwrap", info.detail),
        Capability("network isolation", info.network_isolated,
                   "own network namespace" if info.network_isolated else "programs can reach the network"),
        Capability("private uid", info.private_uid,
                   "each session's programs run as their own unprivileged uid" if info.private_uid
                   else "programs share the runner's uid (not root): RLIMIT_NPROC is shared"),
    ]
