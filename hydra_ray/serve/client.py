"""The ``hydra-ray optimize`` client: build a request, call the service, print a ranked table (no Ray).

Tests file (``--tests``): JSON (a list, or one object) or JSONL (one object a line) of
``{"input": stdin, "expected": stdout}``, both strings (``input`` may be left out: empty stdin), at
least one test. Every file is checked here, before the request is sent, with a message naming the
file and the entry: the service would refuse the request anyway, later and less precisely.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from hydra_ray.metrics.names import METRICS


class ClientError(RuntimeError):
    """The request could not be built or the service answered with an error (message included)."""


def read_text_file(path: str | Path, what: str, python: bool = False) -> str:
    """A UTF-8 text file's contents; a ClientError naming the option and the file when it is missing,
    a directory or not UTF-8 text. ``python``: a program, read as Python reads it (a BOM dropped)."""
    from hydra_ray.paths import UnreadableFile, read_python_source, read_text_file as read_user_file

    try:
        return (read_python_source if python else read_user_file)(path)
    except UnreadableFile as e:
        remedy = {"directory": "; give a file", "encoding": "; save it as UTF-8"}.get(e.kind, "")
        raise ClientError(f"{what}: {Path(path)} {e.why}{remedy}") from None


def check_output_path(path: str | Path) -> None:
    """Before the request is sent: the best program could be written to ``path``."""
    p = Path(path)
    if p.is_dir():
        raise ClientError(f"--output: {p} is a directory; give a file name, e.g. {p / 'best.py'}")
    if not p.parent.is_dir():
        raise ClientError(f"--output: directory {p.parent} does not exist; create it or write elsewhere")
    if not os.access(p if p.exists() else p.parent, os.W_OK):
        raise ClientError(f"--output: {p if p.exists() else p.parent} is not writable by this user; write elsewhere")
    # os.access says yes to root everywhere, /proc and /sys included, so the request ran for minutes and
    # only then failed to write: open the file for real (append: an existing file is left as it is).
    existed = p.exists()
    try:
        with open(p, "a"):
            pass
    except OSError as e:
        raise ClientError(f"--output: cannot write {p}: {e.strerror or e}; write elsewhere") from None
    if not existed:
        p.unlink(missing_ok=True)


def check_url(url: str) -> str:
    """The service's base URL, refused before sending when it cannot be one: ``localhost:8000`` (no
    scheme) failed as "UnsupportedProtocol ... is `hydra-ray serve` running there?", which sent users
    looking for a service that was running all along."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme in ("http", "https") and parts.hostname:
        return url.strip()
    if "://" not in url:
        example = url.strip() or "127.0.0.1:8000"
        raise ClientError(f"--url: {url!r} has no http:// in front; e.g. --url http://{example}")
    if parts.scheme not in ("http", "https"):
        raise ClientError(f"--url: {url!r}: the service speaks http:// (or https:// behind a proxy), "
                          f"not {parts.scheme}://")
    raise ClientError(f"--url: {url!r} names no host; e.g. --url http://127.0.0.1:8000")


def _test_entries(text: str, p: Path) -> list[tuple[str, Any]]:
    """(where, value) of each entry: JSON (a list, or one object) or JSONL, where = item or line number."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        entries = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    entries.append((f"line {n}", json.loads(line)))
                except json.JSONDecodeError as e:
                    raise ClientError(f"--tests: {p} is neither JSON nor JSONL: line {n}: {e}") from None
        return entries
    items = data if isinstance(data, list) else [data]
    return [(f"item {i}", t) for i, t in enumerate(items)]


def _test_case(entry: Any, where: str, p: Path) -> dict[str, str]:
    at = f"--tests: {where} of {p}"
    if not isinstance(entry, dict):
        raise ClientError(f"{at}: expected an object {{\"input\": stdin, \"expected\": stdout}}, got "
                          f"{json.dumps(entry)[:80]}")
    unknown = sorted(set(entry) - {"input", "expected"})
    if unknown:
        raise ClientError(f"{at}: unknown field(s) {', '.join(unknown)}; a test has \"input\" and \"expected\"")
    if "expected" not in entry:
        raise ClientError(f"{at}: \"expected\" (the expected stdout) is missing")
    for key, what in (("input", "the stdin text"), ("expected", "the expected stdout text")):
        if key in entry and not isinstance(entry[key], str):
            raise ClientError(f"{at}: \"{key}\" must be a string ({what}), got {json.dumps(entry[key])[:80]}")
    return {"input": entry.get("input", ""), "expected": entry["expected"]}


def read_tests(path: str | Path) -> list[dict[str, str]]:
    p = Path(path)
    tests = [_test_case(entry, where, p) for where, entry in _test_entries(read_text_file(p, "--tests"), p)]
    if not tests:
        raise ClientError(f"--tests: {p} holds no tests; give at least one {{\"input\": ..., \"expected\": ...}}, "
                          "or leave --tests out (then --input files, else empty stdin, are the check)")
    return tests


OVERLOAD_RETRIES = 3   # a 503 `overloaded` answer is retried this often, after its Retry-After


def _retry_after(r) -> float | None:
    """Seconds to wait before retrying an ``overloaded`` 503 (its Retry-After header), else None."""
    if r.status_code != 503:
        return None
    try:
        kind = (r.json().get("error") or {}).get("type")
        wait = float(r.headers.get("retry-after", ""))
    except (ValueError, AttributeError):
        return None
    return wait if kind == "overloaded" and wait >= 0 else None


def call(url: str, route: str, body: dict[str, Any], timeout_s: float = 600.0,
         note=lambda message: None) -> dict[str, Any]:
    """POST ``body`` and return the JSON answer; a ClientError says what went wrong. A service at
    capacity answers 503 ``overloaded`` with ``Retry-After``: that is retried up to OVERLOAD_RETRIES
    times within ``timeout_s`` (each wait announced through ``note``), as its header asks."""
    import time

    deadline = time.monotonic() + timeout_s
    for attempt in range(OVERLOAD_RETRIES + 1):
        r = _post(url, route, body, max(1.0, deadline - time.monotonic()), timeout_s)
        wait = _retry_after(r)
        if wait is None or attempt == OVERLOAD_RETRIES or time.monotonic() + wait >= deadline:
            break
        note(f"the service is at capacity (HTTP 503); retrying in {wait:g} s as it asks "
             f"({attempt + 1} of {OVERLOAD_RETRIES})")
        time.sleep(wait)
    return _answer(url.rstrip("/") + route, r)


def _post(url: str, route: str, body: dict[str, Any], timeout_s: float, asked_s: float):
    import httpx

    target = url.rstrip("/") + route
    try:
        return httpx.post(target, json=body, timeout=timeout_s)
    except (httpx.ReadTimeout, httpx.WriteTimeout) as e:
        # Reached and working on it: "cannot reach ... is it running?" sent users looking for a dead service.
        raise ClientError(f"{target}: no answer within {asked_s:g} s (--timeout); the service stops measuring a "
                          "request once its client has gone. Raise --timeout, or "
                          "ask for fewer candidates (-n) or give shorter inputs") from e
    except httpx.HTTPError as e:
        raise ClientError(f"cannot reach {target}: {type(e).__name__}: {e} (is `hydra-ray serve` running there?)") from e


def _answer(target: str, r) -> dict[str, Any]:
    try:
        data = r.json()
    except json.JSONDecodeError:
        raise ClientError(f"{target}: HTTP {r.status_code}, not JSON: {r.text[:300]!r}") from None
    if r.status_code != 200:
        err = data.get("error", {}) if isinstance(data, dict) else {}
        raise ClientError(f"{target}: HTTP {r.status_code} {err.get('type', '')}: {err.get('message', data)}")
    return data


def estimated_metrics(resp: dict[str, Any]) -> dict[str, str]:
    """Metric name -> its source, for the metrics the service estimated rather than measured."""
    programs = [resp["original"], *resp["candidates"]]
    return {m.name: next(p["metrics"][m.column]["source"] for p in programs
                         if (p.get("metrics") or {}).get(m.column, {}).get("estimated"))
            for m in METRICS
            if any((p.get("metrics") or {}).get(m.column, {}).get("estimated") for p in programs)}


def measure_modes(resp: dict[str, Any]) -> str:
    """How the programs were measured: the original's mode, and candidates measured otherwise."""
    orig = resp["original"]
    mode = orig.get("measure_mode")
    if not mode:
        return ""
    text = f"measured in {mode} mode" + (f" ({orig['measure_mode_reason']})" if orig.get("measure_mode_reason") else "")
    others = [f"candidate {c['index']} in {c['measure_mode']} mode"
              + (f" ({c['measure_mode_reason']})" if c.get("measure_mode_reason") else "")
              for c in resp["candidates"] if c.get("measure_mode") and c["measure_mode"] != mode]
    return text + "".join(f"; {o}" for o in others)


def _ratio(c: dict[str, Any], name: str) -> str:
    ratio = (c.get("ratios") or {}).get(name)
    if ratio is None:
        return "-"
    star = "*" if (c.get("significant") or {}).get(name) else " "
    return f"{ratio:.2f}x{star}"


def format_table(resp: dict[str, Any]) -> str:
    """Ranked candidates: verdict, reward margin vs the original, per-metric ratios (* = significant,
    ~ after a metric's name = an estimate), with the legend and how the programs were measured."""
    estimates = estimated_metrics(resp)
    head = ["rank", "#", "verdict", "margin", *[m.name + ("~" if m.name in estimates else "") for m in METRICS],
            "detail"]
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
    modes = measure_modes(resp)
    info = [f"weights: {w}" + (f" (preset {resp['preset']})" if resp.get("preset") else ""),
            f"original: {orig['verdict']}" + (f", latency {lat:.1f} ms" if lat is not None else "")
            + (f"; {modes}" if modes else ""),
            "ratios are candidate / original medians; * = significant difference"]
    if estimates:
        info.append("~ = ESTIMATE, derived rather than counted: "
                    + ", ".join(f"{name} [{source}]" for name, source in estimates.items()))
    return "\n".join(info + [""] + lines)


def format_result(resp: dict[str, Any]) -> str:
    best = resp["best"]
    t = resp["timings"]
    verdict = (f"best: candidate {best['index']}" if best["improved"] else "best: the original (nothing beat it)")
    batch = (resp.get("generation") or {}).get("batch_size") or 1
    shared = f" for a batch of {batch} requests" if batch > 1 else ""   # the answer waited for the whole batch
    waited = t.get("waiting_s") or 0.0   # queued behind other requests: said only when it is noticeable
    waiting = f", waiting for a free replica {waited:.2f} s" if waited >= 0.5 else ""
    return "\n".join([format_table(resp), "", f"{verdict} — {best['reason']}",
                      f"time: {t['total_s']:.2f} s (generation {t['generation_s']:.2f} s{shared}, sandbox "
                      f"{t['sandbox_s']:.2f} s{waiting})", "", "--- best program ---", best["code"].rstrip("\n")])


def optimize_body(code: str, tests: Sequence[dict] | None, inputs: Sequence[str] | None,
                  weights: dict[str, float] | None, preset: str | None, n: int | None,
                  max_new_tokens: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code}
    for key, value in (("tests", tests), ("inputs", inputs), ("weights", weights), ("preset", preset),
                       ("n_candidates", n), ("max_new_tokens", max_new_tokens)):
        if value is not None:   # 0 or [] too: the service says what is wrong with them
            body[key] = value if not isinstance(value, tuple) else list(value)
    return body
