"""Start and stop the service from Python: what ``hydra-ray serve`` and ``hydra-ray demo`` call.

    url = start_service("configs/serve/tiny-cpu.yaml")    # or a ServePreset / ServiceConfig
    ...                                                    # POST f"{url}v1/optimize"
    stop_service()

``start_service`` uses the Ray the caller initialised, else connects to ``ray_address`` /
``$RAY_ADDRESS`` (a cluster), else starts its own local Ray (``address="local"``, never someone
else's Ray on this machine); it starts Serve's HTTP proxy on the preset's (or given)
host and port, deploys the application, and returns once ``/healthz`` answers 200 — the model is
loaded and the sandbox calibrated. ``stop_service`` shuts Serve down, and Ray too when
``start_service`` started it. Never ``ray stop``: other Ray instances on the machine are not ours.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from hydra_ray.serve.config import ServePreset, ServiceConfig, load_preset

_state: dict[str, object] = {}


class ServiceStartError(RuntimeError):
    pass


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
    else:
        service, name, prefix, p_host, p_port = preset, "hydra-ray", "/", "127.0.0.1", 8000
    host, port = host or p_host, int(port or p_port)
    if not ray.is_initialized():
        from hydra_ray.ray_runtime import connect

        # A cluster when asked; else our own embedded Ray, never someone else's on this machine.
        connect(ray_address, num_cpus=num_cpus, include_dashboard=False)
        _state["ray"] = True
    serve.start(http_options={"host": host, "port": port})
    try:
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
    actor anyway (the demo): Serve's graceful path then only adds a retried-task warning."""
    import ray
    from ray import serve

    if ray.is_initialized() and graceful:
        serve.shutdown()
    if _state.pop("ray", False):
        from hydra_ray.ray_runtime import shutdown

        shutdown()   # Ray and every process of its session (the agents outlive ray.shutdown alone)
    _state.pop("url", None)
