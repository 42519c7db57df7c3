"""Per-batch re-labelling (enhanced framework), the hub's bookkeeping, and the tiny fixture model."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.dataset import read_labels
from hydra_ray.prefs.labels import Labeler
from hydra_ray.train.alpha import AlphaSettings
from hydra_ray.train.hub import AlphaHub
from hydra_ray.train.relabel import Relabeler, stored_label
from hydra_ray.train.sample_data import build_sample_labelled_set

MEMORY_HEAVY = [0.05, 50.0, 0.05, 0.05, 0.05]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    d = build_sample_labelled_set(tmp_path_factory.mktemp("labelled"), samples_per_pair=1)
    return Labeler.load(d / "labeler.json"), read_labels(d / "labels.parquet")


def _row(rows, pair_id):
    return next(r for r in rows if r["pair_id"] == pair_id)


def test_memory_heavy_weights_flip_a_pair_whose_slow_program_uses_less_memory(labelled):
    """p02691: the slow program (a) uses 32 MB, the fast one (b) 112 MB; stored label (intermediate α) is b.
    Under weights ≈ all on memory, R_a − R_b ≈ w_mem (ṽ_a,mem − ṽ_b,mem) > 0, so a must win and the
    prompt must state the new weights."""
    labeler, rows = labelled
    row = _row(rows, "p02691:s021965299-s412762136")
    assert row["chosen_side"] == "b"
    out = Relabeler(labeler).relabel([row], MEMORY_HEAVY, np.random.default_rng(0))[0]
    assert out.fresh and out.region == "memory" and out.chosen_side == "a"
    assert out.weights[1] > 0.9
    assert f"peak memory {out.weights[1]:.2f}" in out.prompt[1]["content"]
    assert row["original_code"].strip() in out.prompt[1]["content"]
    # Δ_memory > 0 (the chosen program is better on memory), Δ_latency < 0 (it is slower).
    adv = dict(zip(METRIC_NAMES, out.advantage))
    assert adv["memory"] > 0 > adv["latency"]


def test_relabel_is_reproducible_and_agrees_with_the_labeler(labelled):
    labeler, rows = labelled
    rel = Relabeler(labeler)
    a = rel.relabel(rows[:16], [1.0] * 5, np.random.default_rng(7))
    b = rel.relabel(rows[:16], [1.0] * 5, np.random.default_rng(7))
    assert a == b
    for row, lab in zip(rows[:16], a):
        again = labeler.label(row["raw_a"], row["raw_b"], row["significant"], lab.weights)
        assert again.winner == lab.chosen_side and labeler.region(lab.weights) == lab.region


def test_fallback_to_stored_label_when_every_draw_is_dropped(labelled):
    """A pair whose metrics are all tied is always dropped (all_tied): after max_tries draws the example
    keeps the stored label rather than vanishing from the batch."""
    labeler, rows = labelled
    row = dict(rows[0])
    row["significant"] = {m: False for m in METRIC_NAMES}
    out = Relabeler(labeler, max_tries=3).relabel([row], [1.0] * 5, np.random.default_rng(0))[0]
    assert not out.fresh and out == stored_label(rows[0])


def test_hub_logs_rows_and_restore_truncates_them(tmp_path):
    path = tmp_path / "metrics.jsonl"
    hub = AlphaHub(AlphaSettings(lr=0.5, reports_per_update=2), str(path))
    hub.report(["latency", "balanced"], [0.9, 0.5], [[0.1] * 5, [0.3] * 5], worker=0, step=1)
    hub.report(["latency", "balanced"], [0.7, 0.5], [[0.1] * 5, [0.1] * 5], worker=1, step=1)
    row = hub.log_metrics({"step": 1, "loss": 0.65})
    assert row["region_loss/latency"] == pytest.approx(0.8) and row["region_count/balanced"] == 2
    assert row["region_loss/memory"] is None
    assert row["advantage/cycles"] == pytest.approx(0.15)
    assert row["pref_rate/cycles"] == 1.0 and row["tie_rate/cycles"] == 0.0      # every Δ > 0
    assert row["alpha/latency"] > 1.0 > row["alpha/balanced"]
    state = hub.state_dict()
    hub.report(["memory"], [0.2], [[0.0] * 5], worker=0, step=2)
    hub.log_metrics({"step": 2, "loss": 0.6})
    hub.log_metrics({"step": 3, "loss": 0.55})
    fresh = AlphaHub(AlphaSettings(lr=0.5, reports_per_update=2), str(path))
    restored = fresh.restore(state, step=1)
    assert restored == {k.split("/")[1]: v for k, v in row.items() if k.startswith("alpha/")}
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [1]   # rows 2, 3 are redone
    assert fresh.summary()["resumed_from"] == {"step": 1, "alpha": restored, "updates": 1}


def test_base_framework_hub_keeps_alpha_fixed():
    hub = AlphaHub(AlphaSettings(lr=5.0, reports_per_update=1), None, adaptive=False)
    hub.report(["latency", "memory"], [2.0, 0.1], [[0.0] * 5] * 2, worker=0, step=1)
    assert set(hub.get_alpha().values()) == {1.0}
    assert hub.log_metrics({"step": 1})["region_loss/latency"] == 2.0


def test_tiny_model_is_deterministic_and_loads(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from tokenizers import Tokenizer

    from hydra_ray.train.tiny_model import build_tiny_model

    a, b = build_tiny_model(tmp_path / "a"), build_tiny_model(tmp_path / "b")
    digest = lambda d: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir()}
    assert digest(a) == digest(b)
    c = build_tiny_model(tmp_path / "c", seed=1)
    assert digest(c)["model.safetensors"] != digest(a)["model.safetensors"]
    tok = AutoTokenizer.from_pretrained(a)
    assert type(tok).__name__ == "Qwen2Tokenizer"
    raw = Tokenizer.from_file(str(a / "tokenizer.json"))
    text = "n = int(input())\nprint(sum(range(n)))  # naïve  \n\n\tx = 'é'\n"
    assert tok(text)["input_ids"] == raw.encode(text).ids      # same ids whichever class loads it
    assert tok.decode(tok(text)["input_ids"]) == text
    msgs = [{"role": "user", "content": "hi"}]
    prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")
    model = AutoModelForCausalLM.from_pretrained(a)
    assert model.config.model_type == "qwen2" and model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tok)
