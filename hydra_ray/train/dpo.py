"""TRL's DPO trainer, plus the per-example losses the α controller needs.

trl 1.16 computes the DPO loss inside ``DPOTrainer._compute_loss`` and keeps the per-example loss in a
local. Rather than re-implementing that method, :class:`RegionDPOTrainer` lets TRL compute the loss (and
its own metrics) unchanged and captures, with a forward hook, the per-token log-probabilities of the two
forward passes TRL makes (policy, then reference with the adapter disabled). From the same tensors::

    loss_i = −log σ(β [(log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x))])

which is TRL's ``sigmoid`` loss per example. Every batch checks that the mean of these equals the loss
TRL returned (to 1e-5 relative) and raises if not, so a TRL upgrade that changes the computation fails
loudly instead of silently feeding α wrong numbers; ``tests/test_train_loss.py`` checks it against a stock
``DPOTrainer`` per example.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from trl import DPOTrainer

from hydra_ray.train.collator import META_KEY


class LossCaptureError(RuntimeError):
    """The per-example losses do not reproduce TRL's loss (TRL changed, or an unsupported option is on)."""


@dataclass
class BatchLosses:
    per_example: torch.Tensor        # (B,) detached
    chosen_logratio: torch.Tensor    # (B,) log π(y_w) − log π_ref(y_w)
    rejected_logratio: torch.Tensor  # (B,)
    kl_k3: float                     # per-token k3 estimate of KL(π‖π_ref) on the batch's completions
    meta: dict[str, Any] | None


class RegionDPOTrainer(DPOTrainer):
    """``DPOTrainer`` that exposes per-example losses; ``loss_sink(batch_losses)`` gets them in training."""

    def __init__(self, *args, loss_sink: Callable[[BatchLosses], None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        unsupported = []
        if list(self.loss_types) != ["sigmoid"]:
            unsupported.append(f"loss_type={self.loss_types} (only ['sigmoid'], standard DPO)")
        if self.f_divergence_type != "reverse_kl":
            unsupported.append(f"f_divergence_type={self.f_divergence_type!r}")
        if self.ld_alpha is not None or self.use_weighting or self.aux_loss_enabled:
            unsupported.append("ld_alpha / use_weighting / MoE aux loss")
        if unsupported:
            raise ValueError("RegionDPOTrainer reports per-example standard DPO losses; unsupported: "
                             + "; ".join(unsupported))
        self.loss_sink = loss_sink
        self.last_batch: BatchLosses | None = None
        self._captured: list[torch.Tensor] | None = None
        # self.model is the PeftModel (or plain model): every DDP/DeepSpeed wrapper calls it, and so does
        # TRL's reference pass, so one hook sees both forwards.
        self._hook = self.model.register_forward_hook(self._capture, with_kwargs=True)

    def _capture(self, module, args, kwargs, output) -> None:
        if self._captured is not None and kwargs.get("fused_lm_head"):
            self._captured.append(output.log_probs.detach())

    def _compute_loss(self, model, inputs, return_outputs):
        meta = inputs.pop(META_KEY, None)
        self._captured = []
        try:
            result = super()._compute_loss(model, inputs, return_outputs)
            captured = self._captured
        finally:
            self._captured = None
        loss = result[0] if return_outputs else result
        batch = self._per_example(inputs, captured, meta)
        if not torch.allclose(batch.per_example.mean(), loss.detach().float(), rtol=1e-5, atol=1e-6):
            raise LossCaptureError(
                f"per-example DPO losses (mean {batch.per_example.mean().item():.7f}) do not reproduce TRL's loss "
                f"({loss.item():.7f}); the installed trl ({_trl_version()}) computes DPO differently from the "
                "1.16 behaviour hydra_ray.train.dpo relies on. Pin trl==1.16.0 or update RegionDPOTrainer.")
        self.last_batch = batch
        mode = "train" if self.model.training else "eval"
        cr, rr = batch.chosen_logratio, batch.rejected_logratio
        both = self.accelerator.gather_for_metrics(torch.cat([cr, rr]))
        self._metrics[mode]["divergence/seq_logratio"].append(both.mean().item())
        self._metrics[mode]["divergence/kl_k3_per_token"].append(batch.kl_k3)
        if mode == "train" and self.loss_sink is not None:
            self.loss_sink(batch)
        return result

    def _per_example(self, inputs, captured: list[torch.Tensor], meta) -> BatchLosses:
        mask = inputs["completion_mask"][..., 1:]
        seq_len = mask.size(1)
        if self.precompute_ref_logps:
            if len(captured) != 1:
                raise LossCaptureError(f"expected 1 policy forward with the fused LM head, saw {len(captured)}")
            policy = captured[0][:, -seq_len:]
            ref_c, ref_r = inputs["ref_chosen_logps"].float(), inputs["ref_rejected_logps"].float()
            ref_tok = None
        else:
            if len(captured) != 2:
                raise LossCaptureError(f"expected a policy and a reference forward with the fused LM head, saw "
                                       f"{len(captured)}; the installed trl ({_trl_version()}) differs from 1.16")
            policy, ref_tok = captured[0][:, -seq_len:], captured[1][:, -seq_len:]
            ref_c, ref_r = ref_tok.float().sum(dim=1).chunk(2, dim=0)
        pol_c, pol_r = policy.float().sum(dim=1).chunk(2, dim=0)
        chosen_lr, rejected_lr = pol_c - ref_c, pol_r - ref_r
        per_example = -F.logsigmoid(self.beta * (chosen_lr - rejected_lr))
        kl = float("nan")
        if ref_tok is not None:
            # k3 = exp(d) − 1 − d with d = log π_ref − log π per completion token (≥ 0).
            d = (ref_tok.float() - policy.float()) * mask
            m = mask.bool()
            kl = (torch.exp(d[m]) - 1 - d[m]).mean().item() if m.any() else 0.0
        return BatchLosses(per_example.detach(), chosen_lr.detach(), rejected_lr.detach(), kl, meta)


def _trl_version() -> str:
    import trl

    return trl.__version__
