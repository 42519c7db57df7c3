"""The ``hydra-ray optimize`` client: build a request, call the service, print a ranked table (no Ray).

Tests file (``--tests``): JSON (a list) or JSONL (one object a line) of ``{"input": ..., "expected": ...}``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from hydra_ray.metrics.names import METRICS


class ClientError(RuntimeError):
    """The request could not be built or the service answered with an error (message included)."""


def read_tests(path: str | Path) -> list[dict[str, str]]:
    p = Path(path)
    if not p.is_file():
        raise ClientError(f"--tests: {p} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise ClientError(f"--tests: {p} is neither JSON nor JSONL: {e}") from e
    tests = []
    for i, t in enumerate(items):
        if not isinstance(t, dict) or "expected" not in t:
            raise ClientError(f"--tests: item {i} of {p} needs \"input\" and \"expected\" (stdin and expected stdout)")
        tests.append({"input": str(t.get("input", "")), "expected": str(t["expected"])})
    return tests


def call(url: str, route: str, body: dict[str, Any], timeout_s: float = 600.0) -> dict[str, Any]:
    import httpx

    target = url.rstrip("/") + route
    try:
        r = httpx.post(target, json=body, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise ClientError(f"cannot reach {target}: {type(e).__name__}: {e} (is `hydra-ray serve` running there?)") from e
    try:
        data = r.json()
    except json.JSONDecodeError:
        raise ClientError(f"{target}: HTTP {r.status_code}, not JSON: {r.text[:300]!r}") from None
    if r.status_code != 200:
        err = data.get("error", {}) if isinstance(data, dict) else {}
        raise ClientError(f"{target}: HTTP {r.status_code} {err.get('type', '')}: {err.get('message', data)}")
    return data


def _ratio(c: dict[str, Any], name: str) -> str:
    ratio = (c.get("ratios") or {}).get(name)
    if ratio is None:
        return "-"
    star = "*" if (c.get("significant") or {}).get(name) else " "
    return f"{ratio:.2f}x{star}"


def format_table(resp: dict[str, Any]) -> str:
    """Ranked candidates: verdict, reward margin vs the original, per-metric ratios (* = significant)."""
    head = ["rank", "#", "verdict", "margin", *[m.name for m in METRICS], "detail"]
    rows = []
    for c in resp["candidates"]:
        margin = "-" if c.get("margin") is None else f"{c['margin']:+.3f}"
        mark = " <- best" if c["index"] == resp["best"]["index"] else ""
        rows.append([str(c["rank"]), str(c["index"]), c["verdict"], margin,
                     *[_ratio(c, m.name) for m in METRICS], (c.get("detail") or "")[:60] + mark])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    w = ", ".join(f"{k} {v:.2f}" for k, v in resp["weights"].items() if v)
    orig = resp["original"]
    lat = (orig.get("metrics") or {}).get("latency_ms", {}).get("value")
    info = [f"weights: {w}" + (f" (preset {resp['preset']})" if resp.get("preset") else ""),
            f"original: {orig['verdict']}" + (f", latency {lat:.1f} ms" if lat is not None else ""),
            "ratios are candidate / original medians; * = significant difference"]
    return "\n".join(info + [""] + lines)


def format_result(resp: dict[str, Any]) -> str:
    best = resp["best"]
    t = resp["timings"]
    verdict = (f"best: candidate {best['index']}" if best["improved"] else "best: the original (nothing beat it)")
    return "\n".join([format_table(resp), "", f"{verdict} — {best['reason']}",
                      f"time: {t['total_s']:.2f} s (generation {t['generation_s']:.2f} s, sandbox "
                      f"{t['sandbox_s']:.2f} s)", "", "--- best program ---", best["code"].rstrip("\n")])


def optimize_body(code: str, tests: Sequence[dict] | None, inputs: Sequence[str] | None,
                  weights: dict[str, float] | None, preset: str | None, n: int | None,
                  max_new_tokens: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code}
    for key, value in (("tests", tests), ("inputs", inputs), ("weights", weights), ("preset", preset),
                       ("n_candidates", n), ("max_new_tokens", max_new_tokens)):
        if value:
            body[key] = value if not isinstance(value, tuple) else list(value)
    return body
