"""Start and stop the service from Python: what ``hydra-ray serve`` and ``hydra-ray demo`` call.

    url = start_service("configs/serve/tiny-cpu.yaml")    # or a ServePreset / ServiceConfig
    ...                                                    # POST f"{url}v1/optimize"
    stop_service()

``start_service`` uses the Ray the caller initialised, else connects to ``ray_address`` /
``$RAY_ADDRESS`` (a cluster), else starts its own local Ray (``address="local"``, never someone
else's Ray on this machine); it starts Serve's HTTP proxy on the preset's (or given)
host and port, deploys the application, and returns once ``/healthz`` answers 200 — the model is
loaded and the sandbox calibrated. Before starting its own Ray it checks that this machine can
listen on host:port (:func:`port_problem`), and raises :class:`PortUnavailable` if not.
``stop_service`` shuts Serve down, and Ray too when ``start_service`` started it. Never
``ray stop``: other Ray instances on the machine are not ours.
"""
from __future__ import annotations

import errno
import os
import re
import socket
import time
from pathlib import Path
from typing import Sequence

from hydra_ray.serve.config import ServePreset, ServiceConfig, load_preset

_state: dict[str, object] = {}


class ServiceStartError(RuntimeError):
    pass


class PortUnavailable(ServiceStartError):
    """This machine cannot listen on the service's host:port; nothing was started."""


def port_range_problem(port: object) -> str | None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        # 0 too: Serve's proxy would take a random port, and the service's URL would be unknown.
        return f"port {port!r} is not a TCP port: give 1-65535 (--port, or http_options.port in the preset)"
    return None


def port_problem(host: str, port: int) -> str | None:
    """Why this machine cannot listen on host:port, or None. Serve's proxy binds with SO_REUSEPORT,
    so on a busy port a second service would start and take half of the first one's connections."""
    problem = port_range_problem(port)
    if problem:
        return problem
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        return f"host {host!r} does not resolve ({e.strerror}); give an address of this machine with --host"
    try:
        with socket.socket(family, kind, proto) as s:
            # SO_REUSEADDR as servers set it (a stopped service's connections in TIME_WAIT do not
            # count); no SO_REUSEPORT, so a listening socket does.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(addr)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is in use (by another hydra-ray serve?); stop it or pass --port"
        if e.errno == errno.EACCES:
            return f"port {port} on {host} needs privileges this user lacks (ports below 1024); pass --port"
        return f"cannot listen on {host}:{port}: {e.strerror or e} (is {host} an address of this machine? --host)"
    return None


def starts_local_ray(ray_address: str | None) -> bool:
    """Whether start_service() will start our own Ray here rather than join a cluster: no address
    given (argument or ``$RAY_ADDRESS``), or the address ``local``. The serve command asks this too,
    to know whether this machine's port and devices are the ones that matter."""
    address = ray_address or os.environ.get("RAY_ADDRESS")
    return not address or address == "local"


def _wait_healthy(url: str, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + "healthz", timeout=30)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}: {r.text[:300]}"
        except httpx.HTTPError as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.5)
    raise ServiceStartError(f"{url}healthz did not answer 200 within {timeout_s:g} s; last: {last}")


def start_service(cfg: ServePreset | ServiceConfig | str | Path, *, host: str | None = None,
                  port: int | None = None, overrides: Sequence[str] = (), ray_address: str | None = None,
                  num_cpus: int | None = None, timeout_s: float = 600.0) -> str:
    """Deploy the hydra-ray application; returns its base URL (ending in '/')."""
    import ray
    from ray import serve

    from hydra_ray.ray_runtime import quiet_console_handlers
    from hydra_ray.serve.app import build_app

    quiet_console_handlers()   # Serve's console handler exists from its import on

    preset = load_preset(cfg, overrides) if isinstance(cfg, (str, Path)) else cfg
    if isinstance(preset, ServePreset):
        service, name, prefix = preset.app.args, preset.app.name, preset.app.route_prefix
        p_host, p_port = preset.http()
        # The preset's other HTTP options too (request_timeout_s: the presets' bound on a request),
        # as `serve run` of the same file applies them.
        http_options = dict(preset.http_options or {})
    else:
        service, name, prefix, p_host, p_port = preset, "hydra-ray", "/", "127.0.0.1", 8000
        http_options = {}
    host, port = host or p_host, (p_port if port is None else port)
    # With our own Ray the proxy listens here: a busy port is refused before anything starts.
    local = not ray.is_initialized() and starts_local_ray(ray_address)
    problem = port_problem(host, port) if local else port_range_problem(port)
    if problem:
        raise PortUnavailable(problem)
    try:
        if not ray.is_initialized():
            from hydra_ray.ray_runtime import connect

            # Set first: an interrupted or failed start still shuts down whatever connect() started.
            _state["ray"] = True
            # A cluster when asked; else our own embedded Ray, never someone else's on this machine.
            connect(ray_address, num_cpus=num_cpus, include_dashboard=False)
        serve.start(http_options={**http_options, "host": host, "port": port})
        serve.run(build_app(service), name=name, route_prefix=prefix, blocking=False)
        url = f"http://{host}:{port}{prefix.rstrip('/')}/"
        _wait_healthy(url, timeout_s)
    except BaseException:
        stop_service()
        raise
    _state["url"] = url
    return url


def stop_service(graceful: bool = True) -> None:
    """Shut Serve down (and Ray, when start_service started it).

    ``graceful=False`` leaves Serve to the caller's own Ray shutdown, which is about to stop every
    actor anyway (the demo): Serve's graceful path would only add its wait for the controller."""
    import ray
    from ray import serve

    if ray.is_initialized() and graceful:
        _drop_shutdown_notice()
        serve.shutdown()
    if _state.pop("ray", False):
        from hydra_ray.ray_runtime import shutdown

        shutdown()   # Ray and every process of its session (the agents outlive ray.shutdown alone)
    _state.pop("url", None)


# serve.shutdown() asks the controller to stop and waits on that call until the controller kills
# itself; Ray then reports the call as a failed task to be retried, through the driver's error channel.
_SHUTDOWN_NOTICE = re.compile(r"Task ServeController\.graceful_shutdown failed\. There are \w+ retries "
                              r"remaining.*killed by `ray\.kill`", re.S)


def _drop_shutdown_notice() -> None:
    """Keep that expected "(raylet) Task ServeController.graceful_shutdown failed ..." line out of the
    terminal (Ray prints it whatever log_to_driver says); every other error still prints, and -v shows it."""
    from hydra_ray.ray_runtime import verbose

    try:
        from ray._private import worker   # no public hook: the error listener calls this module function
    except ImportError:
        return
    original = getattr(worker, "print_to_stdstream", None)
    if verbose() or original is None or getattr(original, "hydra_filtered", False):
        return

    def filtered(data, ignore_prefix):
        lines = data.get("lines") or []
        if data.get("pid") == "raylet" and lines and all(_SHUTDOWN_NOTICE.search(str(ln)) for ln in lines):
            return None
        return original(data, ignore_prefix)

    filtered.hydra_filtered = True
    worker.print_to_stdstream = filtered
