"""The GPU section of the benchmarks README, from benchmarks/gpu/run.sh's result files."""
from __future__ import annotations

from pathlib import Path

from report_format import HERE, fmt, gib, load, pct, target_text


def gpu_section(results: Path = HERE / "results") -> list[str]:
    """benchmarks/gpu/run.sh's results (gpu-serve.json, gpu-train.json, gpu-tests.json), when there."""
    s, t, k = load("gpu-serve", results), load("gpu-train", results), load("gpu-tests", results)
    if not (s or t or k):
        return []
    m = (s or t or k).get("machine", {})
    smoke = str((s or t or k).get("mode", "")).startswith("cpu-smoke")
    b = "" if smoke else "**"   # a --cpu-smoke run's figures are CPU figures at tiny shapes: never shown as GPU ones
    out = ["## GPU (`benchmarks/gpu/run.sh`)" + (": a --cpu-smoke run, no GPU figures" if smoke else ""), "",
           f"{(s or t or {}).get('mode', '')} — {', '.join(m.get('gpus') or ['no GPU'])}; torch {m.get('torch')}, "
           f"transformers {m.get('transformers')}, vllm {m.get('vllm')}; {m.get('when', '')}.", ""]
    if s:
        out += [f"Generation through the service, {s.get('model')}:", "",
                "| backend | batch 1 tokens/s | batch 8 tokens/s | /v1/optimize, 4 candidates: latency (generation) | status |",
                "|---|---|---|---|---|"]
        for key, name in (("vllm", "vLLM"), ("hf", "HF generate")):
            r = s.get(key) or {}
            o = r.get("optimize_4_candidates") or {}
            status = (f"skipped: {r['skipped']}" if r.get("skipped") else r.get("status") or
                      ("ok" if "batch1_tokens_per_s" in r else "not run"))
            lat = f"{fmt(o.get('latency_s_median'))} s ({fmt(o.get('generation_s_median'))} s)" if o else "–"
            out += [f"| {name} | {b}{fmt(s.get(key + '.batch1_tokens_per_s'))}{b} | "
                    f"{b}{fmt(s.get(key + '.batch8_tokens_per_s'))}{b} | {lat} | {status} |"]
        hf, vl = (s.get("hf") or {}).get("optimize_4_candidates"), (s.get("vllm") or {}).get("optimize_4_candidates")
        if hf and vl and vl.get("generation_s_median"):
            ratio = hf["generation_s_median"] / vl["generation_s_median"]
            out += ["", f"/v1/optimize generation, HF ÷ vLLM: {b}{fmt(ratio)}×{b} "
                        f"({target_text('gpu_generation_hf_over_vllm', ratio, lambda x: f'{x:g}×')})."]
        out += [""]
    if t:
        out += [f"Training, `{(t.get('big') or t.get('tiny') or {}).get('preset', 'QLoRA preset')}`, plain TRL vs "
                "`hydra-ray train` (Ray Train + α actor), same model, data, batch and steps:", "",
                "| model | side | s/step | tokens/s | MFU | peak GPU memory | hydra ÷ plain |", "|---|---|---|---|---|---|---|"]
        for which in ("tiny", "big"):
            r = t.get(which)
            if not r or "plain_trl" not in r:
                out += [f"| {which} | – | – | – | – | – | {(r or {}).get('status', 'not run')} |"]
                continue
            for side, name in (("plain_trl", "plain TRL"), ("hydra_ray", "hydra-ray")):
                x = r[side]
                ratio = (f"{b}{fmt(r.get('ratio_step_time'))}×{b} "
                         f"({target_text('gpu_train_ratio', r.get('ratio_step_time'), lambda x: f'{x:g}×')})"
                         if side == "hydra_ray" else "")
                out += [f"| {which} ({r['parameters'] / 1e6:,.0f} M parameters), batch {r['per_device_batch_size']}, "
                        f"{r['steps']} steps | {name} | {fmt(x.get('step_time_median_s'))} | {fmt(x.get('tokens_per_s'))} | "
                        f"{pct(x.get('mfu'))} | {gib(x.get('peak_gpu_memory_gib'))} | {ratio} |"]
        out += [""]
    if k:
        out += [f"CUDA tests (`{k.get('command', 'pytest -k gpu')}`): {k.get('summary') or k.get('status', '–')}"]
        out += [f"- {line}" for line in k.get("gpu_lines", [])] + [""]
    return out
