"""One switch for the paper's unconditioned prompts (no weights in the prompt): label records it, train
re-renders with it and refuses a contradiction, the adapter carries it, serve and evaluate follow it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hydra_ray.config import from_dict, load_config
from hydra_ray.evaluate.optimizers import hydra_optimizer
from hydra_ray.evaluate.tasks import Task, TestCase
from hydra_ray.prefs.dataset import read_labels
from hydra_ray.prefs.labels import Labeler
from hydra_ray.prefs.prompt import extract_code, render_messages, resolve_conditioning
from hydra_ray.serve.config import ServiceConfig
from hydra_ray.serve.config_paths import ModelPathError, effective_conditioning
from hydra_ray.train.config import TrainConfig, check_node
from hydra_ray.train.driver import write_prompt_record
from hydra_ray.train.relabel import Relabeler
from hydra_ray.train.sample_data import build_sample_labelled_set

CODE = "n = int(input())\nprint(sum(range(n + 1)))\n"
W = [0.7, 0.3, 0.0, 0.0, 0.0]


def test_render_without_weights():
    cond = render_messages(CODE, W)
    plain = render_messages(CODE, W, "none")
    assert "runtime 0.70" in cond[1]["content"]
    assert "0.70" not in plain[1]["content"] and "weights" not in plain[1]["content"]
    assert render_messages(CODE, None, "none") == plain            # weights are not needed
    assert extract_code(plain[1]["content"]).strip() == CODE.strip()
    with pytest.raises(ValueError, match="prompt_conditioning: expected one of"):
        render_messages(CODE, W, "tokens")
    with pytest.raises(ValueError, match="needs a weight vector"):
        render_messages(CODE, None)


@pytest.fixture(scope="module")
def unconditioned(tmp_path_factory):
    return build_sample_labelled_set(tmp_path_factory.mktemp("plain"), samples_per_pair=1, limit=6,
                                     prompt_conditioning="none")


def test_label_records_it_and_relabel_follows(unconditioned):
    data = json.loads((unconditioned / "labeler.json").read_text())
    assert data["config"]["prompt_conditioning"] == "none"
    rows = read_labels(unconditioned / "labels.parquet")
    assert all("weights sum to 1" not in r["prompt"][1]["content"] for r in rows)
    out = Relabeler(Labeler.load(unconditioned / "labeler.json")).relabel(rows[:2], [1.0] * 5,
                                                                           np.random.default_rng(0))
    assert all("weights sum to 1" not in o.prompt[1]["content"] for o in out)


def test_train_refuses_a_contradiction(unconditioned, tmp_path):
    cfg = load_config(TrainConfig, None, ["model.name_or_path=x", "prompt_conditioning=weights"])
    problems = [p for p in check_node(cfg, unconditioned) if p.startswith("prompt_conditioning")]
    assert len(problems) == 1 and "'none'" in problems[0] and "prompt_conditioning=weights" in problems[0]
    ok = load_config(TrainConfig, None, ["model.name_or_path=x", "prompt_conditioning=none"])
    assert not [p for p in check_node(ok, unconditioned) if p.startswith("prompt_conditioning")]
    with pytest.raises(Exception, match="prompt_conditioning"):
        load_config(TrainConfig, None, ["model.name_or_path=x", "prompt_conditioning=maybe"])


def _adapter(tmp_path, conditioning):
    out = tmp_path / "train"
    (out / "adapter").mkdir(parents=True)
    (out / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "base"}))
    write_prompt_record(load_config(TrainConfig, None, ["model.name_or_path=x",
                                                        f"prompt_conditioning={conditioning}"]), out)
    return out


def test_serve_follows_the_adapter_and_refuses_a_contradiction(tmp_path):
    out = _adapter(tmp_path, "none")
    assert json.loads((out / "adapter" / "hydra_prompt.json").read_text()) == {"prompt_conditioning": "none"}
    cfg = from_dict(ServiceConfig, {"model": {"training_output": str(out)}})
    assert effective_conditioning(cfg) == "none"
    wrong = cfg.replace(model=cfg.model.replace(prompt_conditioning="weights"))
    with pytest.raises(ModelPathError, match="trained with 'none'"):
        effective_conditioning(wrong)
    # A recorded backend has no adapter: the setting itself, weights by default.
    assert effective_conditioning(from_dict(ServiceConfig, {"backend": "recorded",
                                                            "recorded": {"path": "x.jsonl"}})) == "weights"


def test_evaluate_hydra_prompts_follow_the_switch():
    task = Task(id="t", original_code=CODE, better_code=None, tests=(TestCase("3\n", "6\n"),))
    seen = []

    class Client:
        def complete_many(self, requests):
            seen.extend(m for m, _ in requests)
            return [RuntimeError("offline")] * len(requests)

    hydra_optimizer(Client(), [W], conditioning="none").propose([task])
    assert seen and "0.70" not in seen[0][1]["content"]
    assert resolve_conditioning(None, None, "x") == "weights"
    with pytest.raises(ValueError, match="trained with 'weights'"):
        resolve_conditioning("none", "weights", "adapter a")
