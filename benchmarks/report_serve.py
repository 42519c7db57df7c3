"""The serving section of the benchmarks README (`bench_serve.py`, results/serve.json)."""
from __future__ import annotations

from report_format import fmt, load_at_start


def serve_section(r: dict | None) -> list[str]:
    """/v1/optimize latency and the service's own overhead, /v1/profile and /healthz throughput."""
    if not r:
        return []
    settings = r.get("verification_profile")
    if settings is None and isinstance(r.get("profile"), dict):
        settings = r["profile"]
    prof = r.get("profile") if isinstance(r.get("profile"), list) else []
    opt = r.get("optimize") or []
    n = sorted({x["requests"] for x in opt + prof})
    out = ["## Serving (`bench_serve.py`)", "",
           f"A local Ray Serve on {r['machine'].get('cpus')} cores, {r.get('backend')}, "
           f"{r.get('verification_replicas')} verification replica, batching {r.get('batching')}; verification "
           "profile " + (f"{settings}" if settings else "warmup 0, repeats 4, throughput bursts 4 (the script's "
                                                       "settings; this result did not keep them)")
           + ". Program `" + "; ".join(r.get("program", "").strip().splitlines()) + "`. "
           + f"Service start-up {fmt(r.get('startup_s'))} s. "
           f"Requests per concurrency level: {', '.join(map(str, n))} (a p99 of so few requests is about their "
           "slowest).", ""]
    if opt:
        out += ["`/v1/optimize` (ms, p50 / p99 over the requests; overhead = client latency − generation − sandbox, "
                "split into the ingress's share, queueing for the one verification replica included, and the "
                "HTTP proxy and JSON):", "",
                "| concurrency | requests/s | latency | sandbox | overhead | ingress (routing + queueing) | "
                "proxy and HTTP | generation |", "|---|---|---|---|---|---|---|---|"]
        for x in opt:
            cell = lambda k: f"{fmt(x[k]['p50_ms'])} / {fmt(x[k]['p99_ms'])}" if x.get(k) else "–"  # noqa: E731
            out += [f"| {x['concurrency']} | {fmt(x['requests_per_s'])} | {cell('latency')} | {cell('sandbox')} | "
                    f"**{cell('overhead')}** | {cell('ingress_overhead')} | {cell('proxy_and_http')} | "
                    f"{cell('generation')} |"]
        out += [""]
    if prof:
        out += ["`/v1/profile` (sandbox-bound):", "", "| concurrency | requests/s | latency p50 / p99 (ms) |",
                "|---|---|---|"]
        out += [f"| {x['concurrency']} | {fmt(x['requests_per_s'])} | {fmt(x['latency']['p50_ms'])} / "
                f"{fmt(x['latency']['p99_ms'])} |" for x in prof]
        out += [""]
    if r.get("healthz_requests_per_s_at_16") is not None:
        out += [f"`GET /healthz` (the HTTP stack alone), 16 clients: {fmt(r['healthz_requests_per_s_at_16'])} "
                "requests/s.", ""]
    out += [load_at_start(r.get("machine") or {}).capitalize() + ".", ""]
    return out
