"""Helpers for tests and benchmarks that run the service on this machine (Ray must already be up).

``deploy(args, port)`` goes through the preset's import path exactly as ``serve run`` does (import
``hydra_ray.serve.app:build``, call it with the args dict), on 127.0.0.1 and the given port.
"""
from __future__ import annotations

import importlib
import json
import socket
import time
from pathlib import Path
from typing import Any, Iterable

from hydra_ray.prefs.prompt import fence
from hydra_ray.serve.config import BUILD_PATH
from hydra_ray.serve.recorded import code_key, prompt_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def builder():
    module, attr = BUILD_PATH.split(":")
    return getattr(importlib.import_module(module), attr)


def wait_healthy(url: str, timeout_s: float = 300.0) -> dict[str, Any]:
    import httpx

    deadline, last = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + "healthz", timeout=30)
            if r.status_code == 200:
                return r.json()
            last = f"HTTP {r.status_code} {r.text[:300]}"
        except httpx.HTTPError as e:
            last = repr(e)
        time.sleep(0.5)
    raise TimeoutError(f"{url}healthz not ready after {timeout_s:g} s: {last}")


def deploy(args: dict[str, Any], port: int, name: str = "hydra-ray", timeout_s: float = 300.0) -> str:
    from ray import serve

    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(builder()(args), name=name, route_prefix="/", blocking=False)
    url = f"http://127.0.0.1:{port}/"
    wait_healthy(url, timeout_s)
    return url


def write_recorded(path: str | Path, *, by_code: dict[str, list[str]] | None = None,
                   by_prompt: Iterable[tuple[list[dict], list[str]]] = (), pool: Iterable[list[str]] = ()) -> Path:
    """A recorded-completions file; program texts are fenced here (``completions`` are model answers)."""
    lines = [{"code_sha256": code_key(code), "completions": [fence(c) for c in comps]}
             for code, comps in (by_code or {}).items()]
    lines += [{"prompt_sha256": prompt_key(msgs), "completions": [fence(c) for c in comps]} for msgs, comps in by_prompt]
    lines += [{"completions": [fence(c) for c in comps]} for comps in pool]
    p = Path(path)
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return p
