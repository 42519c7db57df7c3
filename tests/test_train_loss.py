"""Per-example DPO losses equal TRL's own loss and the paper's formula; the collator tokenizes as TRL does.

The paper's DPO loss (Sec. IV-D) for a winner/loser pair (C_w, C_ℓ) under prompt x is
L = −log σ(β[log π_θ(C_w|x)/π_ref(C_w|x) − log π_θ(C_ℓ|x)/π_ref(C_ℓ|x)]). The α controller is fed one such
loss per example, so they are checked against TRL (same batch, batch of one) and, independently of TRL,
against that formula evaluated from two plain forward passes (policy, and reference = adapter disabled).
"""
from __future__ import annotations

import copy

import pytest
import torch

from hydra_ray.config import from_dict
from hydra_ray.train.builder import build_trainer, dpo_args, lora_config, load_tokenizer
from hydra_ray.train.config import TrainConfig
from hydra_ray.train.dpo import LossCaptureError, RegionDPOTrainer
from hydra_ray.train.sample_data import build_sample_labelled_set
from hydra_ray.train.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    torch.set_num_threads(1)
    model = build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    labelled = build_sample_labelled_set(tmp_path_factory.mktemp("labelled"), samples_per_pair=1, limit=16)
    return model, labelled


def _cfg(model_dir, framework="enhanced"):
    return from_dict(TrainConfig, {"framework": framework, "model": {"name_or_path": str(model_dir)},
                                   "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
                                   "dpo": {"beta": 0.5, "max_steps": 2, "per_device_batch_size": 4}})


def _trainers(model_dir, labelled, tmp_path, trainer_cls=RegionDPOTrainer):
    """Ours and a stock trl DPOTrainer over identical weights. LoRA B is randomly initialised
    (init_lora_weights=False) so the policy differs from the reference and every loss differs from log 2."""
    from transformers import AutoModelForCausalLM
    from trl import DPOTrainer

    cfg = _cfg(model_dir)
    torch.manual_seed(0)
    ours = build_trainer(cfg, labelled, tmp_path / "ours", use_cpu=True, concentration=lambda: [1.0] * 5,
                         init_lora_weights=False)
    if trainer_cls is not RegionDPOTrainer:
        ours = trainer_cls(model=AutoModelForCausalLM.from_pretrained(model_dir), args=ours.args,
                           data_collator=ours.data_collator, train_dataset=ours.train_dataset.remove_columns(
                               ["prompt_ids", "chosen_ids", "rejected_ids"]),
                           processing_class=ours.processing_class,
                           peft_config=lora_config(cfg, init_lora_weights=False))
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    stock = DPOTrainer(model=base, args=dpo_args(cfg, tmp_path / "stock", use_cpu=True),
                       train_dataset=ours.train_dataset.remove_columns(["prompt_ids", "chosen_ids", "rejected_ids"]),
                       processing_class=load_tokenizer(cfg), peft_config=lora_config(cfg, init_lora_weights=False))
    stock.model.load_state_dict(ours.model.state_dict())
    return ours, stock


def test_per_example_losses_equal_trl(dirs, tmp_path):
    """TRL's loss for a batch of one is that example's loss. So: (1) on the same batch of 4, the mean of our
    per-example losses equals stock TRL's loss to 1e-5; (2) for each example alone, our single per-example
    loss equals stock TRL's loss on that one-example batch to 1e-5; (3) element i of the batch-of-4 vector
    is example i's loss (to 1e-4: padding to a longer batch changes float rounding a little)."""
    model_dir, labelled = dirs
    ours, stock = _trainers(model_dir, labelled, tmp_path)
    rows = [ours.train_dataset[i] for i in range(4)]
    batch = ours.data_collator(rows)
    ours.model.train()
    stock.model.train()
    with torch.no_grad():
        mean_loss = ours.compute_loss(ours.model, dict(batch))
        stock_mean = stock.compute_loss(stock.model, {k: v for k, v in batch.items() if k != "hydra_meta"})
    per_example = ours.last_batch.per_example.clone()
    assert per_example.shape == (4,)
    assert per_example.std() > 1e-3, "losses should differ across examples (adapter is not zero)"
    assert mean_loss.item() == pytest.approx(stock_mean.item(), rel=1e-5)
    assert per_example.mean().item() == pytest.approx(stock_mean.item(), rel=1e-5)
    assert len(batch["hydra_meta"]["region"]) == 4

    n = batch["input_ids"].shape[0] // 2
    for i in range(4):
        one = {}
        for key in ("input_ids", "attention_mask", "completion_mask"):
            pair = batch[key][[i, n + i]]
            width = int(batch["attention_mask"][[i, n + i]].sum(dim=1).max())
            one[key] = pair[:, :width].clone()
        with torch.no_grad():
            trl_loss = stock.compute_loss(stock.model, dict(one))
            ours.compute_loss(ours.model, dict(one))
        mine = ours.last_batch.per_example
        assert mine.shape == (1,)
        assert mine.item() == pytest.approx(trl_loss.item(), rel=1e-5, abs=1e-6)
        assert per_example[i].item() == pytest.approx(mine.item(), rel=1e-4)


def _sequence_logps(model, batch):
    """Σ_t log p(y_t | x, y_<t) over each row's completion tokens, from a plain forward pass of ``model``:
    logits at position t predict token t+1, so token t+1 counts when completion_mask[t+1] is 1."""
    ids, attn, comp = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
    tok = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (tok * comp[:, 1:]).sum(dim=1)


def test_per_example_loss_is_the_papers_dpo_formula(dirs, tmp_path):
    """The paper's DPO loss (Sec. IV-D), computed here from first principles, not from TRL:

        L_DPO = −log σ(β [log π_θ(C_w|x)/π_ref(C_w|x) − log π_θ(C_ℓ|x)/π_ref(C_ℓ|x)]),  σ(z) = 1/(1+e^(−z))

    log π(C|x) is the sum over C's tokens of log softmax(logits)[next token], from one forward pass of
    the policy (LoRA on) and one of the reference (the same model with the adapter disabled: the
    original model, π_ref). The batch holds the B chosen rows, then the B rejected ones. The per-example
    losses the α controller receives must equal this for every example; a wrong β, a swapped sign
    (loser minus winner) or a missing reference term each break it."""
    model_dir, labelled = dirs
    ours, _ = _trainers(model_dir, labelled, tmp_path)
    batch = ours.data_collator([ours.train_dataset[i] for i in range(4)])
    ours.model.train()
    with torch.no_grad():
        ours.compute_loss(ours.model, dict(batch))
        got = ours.last_batch
        ours.model.eval()   # dropout is 0: train and eval forwards agree
        plain = {k: batch[k] for k in ("input_ids", "attention_mask", "completion_mask")}
        policy = _sequence_logps(ours.model, plain)
        with ours.model.disable_adapter():
            ref = _sequence_logps(ours.model, plain)
    pol_w, pol_l = policy.chunk(2)
    ref_w, ref_l = ref.chunk(2)
    beta = ours.beta
    assert beta == 0.5
    z = beta * ((pol_w - ref_w) - (pol_l - ref_l))
    paper = -torch.log(1.0 / (1.0 + torch.exp(-z)))
    assert torch.allclose(got.chosen_logratio, pol_w - ref_w, rtol=1e-4, atol=1e-4)
    assert torch.allclose(got.rejected_logratio, pol_l - ref_l, rtol=1e-4, atol=1e-4)
    assert torch.allclose(got.per_example, paper, rtol=1e-4, atol=1e-5), (got.per_example, paper)
    assert (z.abs() > 1e-3).all(), "policy and reference must differ for the check to mean anything"


class _RefFirst(RegionDPOTrainer):
    """Stands in for a TRL that runs the reference pass first: the captures arrive in the other order."""

    def _capture(self, module, args, kwargs, output):
        if self._captured is not None and kwargs.get("fused_lm_head"):
            self._captured.insert(0, output.log_probs.detach())


def test_guard_fails_loudly_when_capture_disagrees_with_trl(dirs, tmp_path):
    model_dir, labelled = dirs
    ours, _ = _trainers(model_dir, labelled, tmp_path, trainer_cls=_RefFirst)
    batch = ours.data_collator([ours.train_dataset[i] for i in range(4)])
    with torch.no_grad(), pytest.raises(LossCaptureError, match="do not reproduce TRL's loss"):
        ours.compute_loss(ours.model, dict(batch))


def test_enhanced_collator_tokenizes_like_trl(dirs, tmp_path):
    """Re-rendered prompt + reused completion ids == TRL's own tokenization of the re-rendered example."""
    from datasets import Dataset

    from hydra_ray.prefs.prompt import render_completion

    model_dir, labelled = dirs
    cfg = _cfg(model_dir)
    tr = build_trainer(cfg, labelled, tmp_path / "t", use_cpu=True, concentration=lambda: [0.3, 3.0, 0.3, 0.3, 0.3])
    rows = [tr.train_dataset[i] for i in range(4)]
    batch = tr.data_collator(rows)
    meta = batch["hydra_meta"]
    from hydra_ray.prefs.prompt import render_messages
    again = []
    for row, w, fresh in zip(rows, meta["weights"], meta["fresh"]):
        assert fresh
        lab = tr.data_collator.relabeler.labeler.label(row["raw_a"], row["raw_b"], row["significant"], w)
        win, lose = (row["code_a"], row["code_b"]) if lab.winner == "a" else (row["code_b"], row["code_a"])
        again.append({"prompt": render_messages(row["original_code"], w), "chosen": render_completion(win),
                      "rejected": render_completion(lose)})
    prepared = tr._prepare_dataset(Dataset.from_list(again), tr.processing_class, tr.args, "check")
    expected = tr.data_collator.padder([{k: prepared[i][k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")}
                                        for i in range(4)])
    for key in ("input_ids", "attention_mask", "completion_mask"):
        assert torch.equal(batch[key], expected[key]), key
    # And the weights were really redrawn: the prompts differ from the stored ones.
    assert any(m["prompt"] != r["prompt"] for m, r in zip(again, rows))


def test_base_collator_uses_stored_examples(dirs, tmp_path):
    model_dir, labelled = dirs
    tr = build_trainer(_cfg(model_dir, "base"), labelled, tmp_path / "b", use_cpu=True)
    rows = [tr.train_dataset[i] for i in range(3)]
    batch = tr.data_collator(rows)
    expected = tr.data_collator.padder([{k: r[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for r in rows])
    assert torch.equal(batch["input_ids"], expected["input_ids"])
    assert batch["hydra_meta"]["region"] == [r["region"] for r in rows]
    assert batch["hydra_meta"]["weights"] == [list(r["weights"]) for r in rows]
