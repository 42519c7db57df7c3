"""The default generation backend: the tiny Qwen2 base + a real peft adapter, loaded and decoding.

The adapter is made with peft directly (random LoRA B, so it visibly changes the model) and laid out
like a `hydra-ray train` output (OUT/adapter with tokenizer, OUT/config.yaml). Greedy decoding is
deterministic, so what the service answers must equal a reference decode of base+adapter made here —
and differ from the base alone.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from hydra_ray.prefs.prompt import render_messages
from hydra_ray.serve.backends import GenRequest, ModelBackend
from hydra_ray.serve.config import load_preset, service_config
from hydra_ray.serve.config_paths import ModelPathError, resolve_model

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

REPO = Path(__file__).resolve().parents[1]
CODE = "n = int(input())\nprint(sum(range(n)))\n"
MESSAGES = render_messages(CODE, [0.7, 0.3, 0.0, 0.0, 0.0])
NEW_TOKENS = 24


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hydra_ray.train.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("serve-model")
    base = build_tiny_model(root / "tiny-model")
    torch.manual_seed(0)
    model = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                                peft.LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                                init_lora_weights=False))
    out = root / "train-out"
    model.save_pretrained(out / "adapter")
    AutoTokenizer.from_pretrained(base).save_pretrained(out / "adapter")
    (out / "config.yaml").write_text(yaml.safe_dump({"model": {"name_or_path": str(base)}}))
    return base, out


def reference(base: Path, adapter: Path | None, device: str = "cpu") -> str:
    """Greedy decode of MESSAGES with plain transformers (+ peft), the way any user would."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    if adapter is not None:
        model = peft.PeftModel.from_pretrained(model, adapter)
    model = model.to(device)
    ids = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=True, return_dict=True,
                                  return_tensors="pt")["input_ids"].to(device)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                             do_sample=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    new = out[0, ids.shape[1]:].tolist()
    if tok.eos_token_id in new:
        new = new[:new.index(tok.eos_token_id)]
    return tok.decode(new, skip_special_tokens=True)


def test_training_output_resolves_to_base_and_adapter(trained, tmp_path):
    base, out = trained
    r = resolve_model(service_config({"model": {"training_output": str(out)}}).model)
    assert (r.base, r.adapter, r.tokenizer) == (str(base), str(out / "adapter"), str(out / "adapter"))
    (tmp_path / "run").mkdir()
    with pytest.raises(ModelPathError, match="has no adapter/ directory"):
        resolve_model(service_config({"model": {"training_output": str(tmp_path / "run")}}).model)
    with pytest.raises(ModelPathError, match="not a directory"):
        resolve_model(service_config({"model": {"training_output": str(tmp_path / "absent")}}).model)


def test_backend_generates_with_the_adapter(trained):
    base, out = trained
    with_adapter, base_only = reference(base, out / "adapter"), reference(base, None)
    assert with_adapter != base_only, "the adapter must change what the model says"
    backend = ModelBackend(service_config({"model": {"training_output": str(out), "merge_adapter": False, "device": "cpu"}}))
    assert backend.describe()["adapter"] == str(out / "adapter") and not backend.describe()["merged"]
    [res] = backend.generate_batch([GenRequest.of(MESSAGES, n=1, max_new_tokens=NEW_TOKENS, temperature=0.0)])
    assert res.generations[0].text == with_adapter
    assert res.prompt_tokens > 50 and 0 < res.generations[0].completion_tokens <= NEW_TOKENS


def test_merged_adapter_gives_the_same_logits(trained):
    base, out = trained
    plain = ModelBackend(service_config({"model": {"training_output": str(out), "merge_adapter": False, "device": "cpu"}}))
    merged = ModelBackend(service_config({"model": {"training_output": str(out), "merge_adapter": True, "device": "cpu"}}))
    assert merged.describe()["merged"]
    ids = torch.tensor([plain.prompt_ids(GenRequest.of(MESSAGES))])
    with torch.inference_mode():
        a, b = plain.model(ids).logits, merged.model(ids).logits
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()


def test_batch_expands_n_and_cuts_each_request_to_its_own_limit(trained):
    _, out = trained
    backend = ModelBackend(service_config({"model": {"training_output": str(out), "device": "cpu"}}))
    other = render_messages("print(1)\n", [0.2] * 5)
    reqs = [GenRequest.of(MESSAGES, n=3, max_new_tokens=5, temperature=0.8, seed=1),
            GenRequest.of(other, n=1, max_new_tokens=20, temperature=0.0),
            GenRequest.of(other, n=2, max_new_tokens=12, temperature=0.8)]
    results = backend.generate_batch(reqs)
    assert [len(r.generations) for r in results] == [3, 1, 2]
    assert all(r.batch_size == 3 for r in results)
    for req, res in zip(reqs, results):
        for g in res.generations:
            assert g.completion_tokens <= req.max_new_tokens
            assert g.finish_reason in ("stop", "length")
            assert g.finish_reason == "stop" or g.completion_tokens == req.max_new_tokens


@pytest.fixture(scope="module")
def served(trained):
    ray = pytest.importorskip("ray")
    from ray import serve

    from hydra_ray.serve.testing import deploy, free_port

    _, out = trained
    preset = load_preset(REPO / "configs" / "serve" / "tiny-cpu.yaml", [
        f"model.training_output={out}", "model.merge_adapter=false", "batching.batch_wait_timeout_s=0.5",
        "verification.profile.warmup=0", "verification.profile.repeats=4", "verification.profile.throughput_bursts=4"])
    args = preset.app.args.to_dict()
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        yield deploy(args, free_port())
    finally:
        serve.shutdown()
        ray.shutdown()


def test_service_answers_with_base_plus_adapter(trained, served):
    base, out = trained
    body = {"model": "hydra", "messages": MESSAGES, "temperature": 0, "max_tokens": NEW_TOKENS}
    r = httpx.post(served + "v1/chat/completions", json=body, timeout=300)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == reference(base, out / "adapter")
    health = httpx.get(served + "healthz", timeout=30).json()
    assert health["generation"]["backend"] == "model" and health["generation"]["adapter"] == str(out / "adapter")


def test_concurrent_requests_are_batched(served):
    def one(k: int):
        body = {"messages": render_messages(f"print({k})\n", [0.2] * 5), "max_tokens": 8, "temperature": 0.5}
        return httpx.post(served + "v1/chat/completions", json=body, timeout=300)

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(one, range(4)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert max(a.json()["hydra"]["batch_size"] for a in answers) > 1


def test_optimize_with_the_model_backend_returns_the_original_for_junk(served):
    r = httpx.post(served + "v1/optimize", json={"code": CODE, "inputs": ["5\n"], "preset": "runtime",
                                                 "n_candidates": 2, "max_new_tokens": 16}, timeout=300)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["generation"]["backend"] == "model" and len(body["candidates"]) == 2
    assert all(c["completion"] is not None for c in body["candidates"])
    assert not body["best"]["improved"] and body["best"]["code"] == CODE


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_backend_bf16_exactness_and_batching(trained):
    """device/dtype auto pick cuda + bfloat16; in float32 on the GPU the backend decodes exactly what
    plain peft does there; and one batched call of 8 requests beats 8 calls one after another (what
    @serve.batch buys: decoding is launch/bandwidth-bound, so rows are almost free)."""
    import time

    base, out = trained
    auto = ModelBackend(service_config({"model": {"training_output": str(out)}}))
    assert (auto.describe()["device"], auto.describe()["dtype"]) == ("cuda", "bfloat16")
    exact = ModelBackend(service_config({"model": {"training_output": str(out), "device": "cuda",
                                                   "dtype": "float32", "merge_adapter": False}}))
    [res] = exact.generate_batch([GenRequest.of(MESSAGES, max_new_tokens=NEW_TOKENS)])
    assert res.generations[0].text == reference(base, out / "adapter", "cuda")
    reqs = [GenRequest.of(render_messages(f"print({k})\n", [0.2] * 5), max_new_tokens=64, temperature=0.7, seed=k)
            for k in range(8)]

    def rate(batches) -> float:
        """New tokens per second over the calls, best of three (the first call of a shape warms up)."""
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            n = sum(g.completion_tokens for b in batches for r in auto.generate_batch(b) for g in r.generations)
            best = max(best, n / (time.perf_counter() - t0))
        return best

    alone = rate([[r] for r in reqs])
    together = rate([reqs])
    print(f"\nGPU tiny model, 64 new tokens per request: one by one {alone:.0f} tokens/s, "
          f"8 in one batch {together:.0f} tokens/s")
    assert together > 2 * alone


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_generation_replica_is_placed_on_the_gpu(trained):
    ray = pytest.importorskip("ray")
    from ray import serve

    from hydra_ray.serve.app import plan
    from hydra_ray.serve.testing import deploy, free_port

    _, out = trained
    args = {"model": {"training_output": str(out)},
            "deployments": {"generation": {"num_cpus": 1, "num_gpus": 0.5}},
            "verification": {"profile": {"warmup": 0, "repeats": 4, "throughput_bursts": 4}}}
    ray.init(address="local", num_cpus=4, include_dashboard=False)
    try:
        from hydra_ray.serve.config import service_config as sc

        assert plan(sc(args))["Generator"]["ray_actor_options"]["num_gpus"] == 0.5
        url = deploy(args, free_port())
        health = httpx.get(url + "healthz", timeout=60).json()
        assert health["generation"]["device"] == "cuda"
        r = httpx.post(url + "v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 16}, timeout=300)
        assert r.status_code == 200, r.text
    finally:
        serve.shutdown()
        ray.shutdown()


# ---- n samples, seeds and streaming of the HF backend (issue 16) ------------------------------------

@pytest.fixture(scope="module")
def backend(trained):
    _, out = trained
    return ModelBackend(service_config({"model": {"training_output": str(out), "device": "cpu"}}))


def test_seeded_request_does_not_depend_on_its_batch(backend):
    other = render_messages("print(2)\n", [0.2] * 5)
    seeded = GenRequest.of(MESSAGES, n=3, max_new_tokens=12, temperature=1.0, seed=7)
    [alone] = backend.generate_batch([seeded])
    batch = backend.generate_batch([GenRequest.of(other, n=2, max_new_tokens=8, temperature=1.0), seeded,
                                    GenRequest.of(other, n=1, max_new_tokens=8, temperature=1.0, seed=3),
                                    GenRequest.of(MESSAGES, n=2, max_new_tokens=8, temperature=1.0)])
    in_batch = batch[1]
    assert [g.text for g in in_batch.generations] == [g.text for g in alone.generations]
    # What the answer reports: its batch (4 requests, one time for all), and what shared its generate call.
    assert [r.batch_size for r in batch] == [4] * 4 and len({r.seconds for r in batch}) == 1
    assert [r.info["decoded_with"] for r in batch] == [2, 1, 1, 2]
    [reseeded] = backend.generate_batch([GenRequest.of(MESSAGES, n=3, max_new_tokens=12, temperature=1.0, seed=8)])
    assert [g.text for g in reseeded.generations] != [g.text for g in alone.generations]
    # n samples of one prompt come from one generate call and differ from each other
    assert len(alone.generations) == 3 and alone.info["generate_calls"] == 1
    assert len({g.text for g in alone.generations}) > 1


def test_greedy_n_repeats_one_decode(backend):
    [res] = backend.generate_batch([GenRequest.of(MESSAGES, n=3, max_new_tokens=NEW_TOKENS, temperature=0.0)])
    [one] = backend.generate_batch([GenRequest.of(MESSAGES, n=1, max_new_tokens=NEW_TOKENS, temperature=0.0)])
    assert [g.text for g in res.generations] == [one.generations[0].text] * 3


def collect(items):
    """Deltas joined per choice, finish reasons, and the closing GenResult."""
    texts, reasons, result = {}, {}, None
    for item in items:
        if hasattr(item, "generations"):
            result = item
        else:
            assert item.index not in reasons, "no delta after a choice's finish_reason"
            texts[item.index] = texts.get(item.index, "") + item.text
            if item.finish_reason:
                reasons[item.index] = item.finish_reason
    return texts, reasons, result


def test_backend_stream_matches_generate(trained, backend):
    base, out = trained
    greedy = GenRequest.of(MESSAGES, n=2, max_new_tokens=NEW_TOKENS, temperature=0.0)
    steps = list(backend.stream(greedy))
    texts, reasons, result = collect(steps)
    expected = reference(base, out / "adapter")
    assert texts == {0: expected, 1: expected} and set(reasons) == {0, 1}
    assert len(steps) > 4, "tokens arrive one step at a time, not in one piece"
    assert [g.text for g in result.generations] == [expected] * 2 and result.prompt_tokens > 50
    sampled = GenRequest.of(MESSAGES, n=3, max_new_tokens=10, temperature=1.0, seed=11)
    texts, reasons, result = collect(backend.stream(sampled))
    [batch] = backend.generate_batch([sampled])
    assert [texts[i] for i in range(3)] == [g.text for g in batch.generations]
    assert [reasons[i] for i in range(3)] == [g.finish_reason for g in batch.generations]


# ---- a client that leaves stops costing decode steps ------------------------------------------------

def test_a_cancelled_request_stops_at_once_and_its_neighbours_do_not_notice(backend):
    """Two greedy requests share one generate() call; the second's caller has gone (its event is set), so
    its row stops after one token, while the first decodes exactly what it decodes alone."""
    import threading

    other = render_messages("print(3)\n", [0.2] * 5)
    kept = GenRequest.of(MESSAGES, n=1, max_new_tokens=NEW_TOKENS, temperature=0.0)
    left = GenRequest.of(other, n=2, max_new_tokens=NEW_TOKENS, temperature=0.0)
    [alone] = backend.generate_batch([kept])
    before = backend.cancelled_requests
    gone = threading.Event()
    gone.set()
    res_kept, res_left = backend.generate_batch([kept, left], [threading.Event(), gone])
    assert res_kept.info["decoded_with"] == 2, "both requests were in one generate() call"
    assert [g.text for g in res_kept.generations] == [g.text for g in alone.generations]
    assert "cancelled" not in res_kept.info and res_left.info["cancelled"] is True
    assert all(g.completion_tokens <= 1 for g in res_left.generations)
    assert backend.cancelled_requests == before + 1


def _decode_thread():
    import threading

    return next((t for t in threading.enumerate() if t.name == "hf-stream"), None)


def test_a_stream_whose_reader_leaves_stops_decoding(backend):
    """A reader that closes the stream after its first piece: the decoding thread ends within seconds,
    where it would otherwise decode on to max_new_tokens (2000 tokens: minutes of this tiny model)."""
    long = GenRequest.of(MESSAGES, n=1, max_new_tokens=2000, temperature=1.0, seed=5)
    stream = backend.stream(long)
    next(stream)
    worker = _decode_thread()
    assert worker is not None and worker.is_alive(), "still decoding when the reader leaves"
    stream.close()
    worker.join(timeout=30)
    assert not worker.is_alive(), "decoding went on after the reader left"


@pytest.mark.parametrize("stream", [False, True], ids=["batched", "streamed"])
def test_service_stops_decoding_for_a_client_that_left(served, stream):
    """A client leaves a 2048-token greedy answer (seconds of decoding even for the tiny model): a
    waiting client by its 1 s timeout, a streaming one after its first piece. Serve cancels its call,
    and the generation replica stops decoding that request (its backend counts it) rather than run on to
    the limit in front of every later request."""
    import time

    from ray import serve

    generator = serve.get_deployment_handle("Generator", app_name="hydra-ray")

    def cancelled() -> int:
        return generator.cancelled_requests.remote().result(timeout_s=60)

    before = cancelled()
    body = {"messages": MESSAGES, "max_tokens": 2048, "temperature": 0, "stream": stream}
    left = False
    try:
        with httpx.stream("POST", served + "v1/chat/completions", json=body, timeout=1) as r:
            for _ in r.iter_bytes():
                left = True
                break   # a streaming reader that leaves after its first piece
    except httpx.TimeoutException:
        left = True     # a waiting client that gives up
    assert left, "the client left before the answer was complete"
    deadline = time.monotonic() + 60
    while cancelled() == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cancelled() == before + 1, "the replica decoded on for a client that had gone"


def sse_events(response) -> list:
    from hydra_ray.serve.streaming import read_events

    return read_events(response.iter_lines())


def test_service_streams_the_model_answer(trained, served):
    base, out = trained
    body = {"messages": MESSAGES, "temperature": 0, "max_tokens": NEW_TOKENS, "stream": True,
            "stream_options": {"include_usage": True}}
    with httpx.stream("POST", served + "v1/chat/completions", json=body, timeout=300) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events[:-1] if e["choices"]]
    assert len(chunks) > 3 and chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(e["object"] == "chat.completion.chunk" for e in events[:-1])
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in chunks)
    assert text == reference(base, out / "adapter")
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert events[-2]["choices"] == [] and events[-2]["usage"]["completion_tokens"] > 0
