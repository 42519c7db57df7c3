"""Build the model, tokenizer, dataset and :class:`RegionDPOTrainer` from a :class:`TrainConfig`.

One code path for a local tiny model and a 7B Hugging Face model: both are loaded with
``from_pretrained`` (offline: a local directory or the local HF cache). Used by the Ray Train worker,
the benchmark and the tests.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from hydra_ray.config import ConfigError
from hydra_ray.train.config import TrainConfig

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def load_tokenizer(cfg: TrainConfig):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cfg.model.name_or_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.chat_template is None:
        raise ValueError(f"model {cfg.model.name_or_path}: the tokenizer has no chat template; use an instruct "
                         "model (the prompts are chat messages)")
    return tok


def load_model(cfg: TrainConfig):
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict = {"dtype": getattr(torch, _DTYPES[cfg.model.dtype])}
    if cfg.model.attn_implementation:
        kwargs["attn_implementation"] = cfg.model.attn_implementation
    if cfg.model.quantization == "nf4":
        # Imported only here: bitsandbytes exists on GPU nodes only.
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=cfg.model.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, _DTYPES[cfg.model.compute_dtype]))
        kwargs["dtype"] = getattr(torch, _DTYPES[cfg.model.compute_dtype])
        # 4-bit weights are quantized as they load onto the device: this worker's GPU (Ray Train sets
        # it). bitsandbytes' CPU backend runs the same code path, which the tests use (no CUDA there).
        kwargs["device_map"] = {"": torch.cuda.current_device() if torch.cuda.is_available() else "cpu"}
    model = AutoModelForCausalLM.from_pretrained(cfg.model.name_or_path, **kwargs)
    if cfg.model.quantization == "nf4" and not torch.cuda.is_available():
        # On CPUs with AVX512-BF16 bitsandbytes repacks 4-bit weights at the first inference forward,
        # after which a training forward fails; keep the training layout.
        for module in model.modules():
            if hasattr(module, "support_avx512bf16_for_cpu"):
                module.support_avx512bf16_for_cpu = False
    if cfg.model.quantization == "nf4":
        from peft import prepare_model_for_kbit_training

        # Non-reentrant checkpointing: what torch recommends, and it needs no input-grad hooks for LoRA.
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.model.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.model.init_adapter:
        from peft import PeftModel

        # Warm start: continue this adapter (trainable), rather than a fresh LoRA of lora.*.
        model = PeftModel.from_pretrained(model, cfg.model.init_adapter, is_trainable=True)
    return model


def lora_config(cfg: TrainConfig, *, init_lora_weights: bool = True):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM",
                      init_lora_weights=init_lora_weights)


def dpo_args(cfg: TrainConfig, output_dir: str | Path, *, use_cpu: bool, **overrides):
    """TRL's ``DPOConfig``: standard DPO (``loss_type=["sigmoid"]``, the paper's Sec. IV-D loss) with β and η.

    The update is the Transformers default optimizer, AdamW, with gradient-norm clipping at
    ``dpo.max_grad_norm`` and the configured schedule, where Sec. IV-D writes plain gradient descent
    θ ← θ − η∇_θ L_DPO (Sec. V-B names no optimizer; README, Differences from the paper).
    """
    from trl import DPOConfig

    d = cfg.dpo
    args = dict(
        output_dir=str(output_dir), beta=d.beta, learning_rate=d.learning_rate,
        per_device_train_batch_size=d.per_device_batch_size,
        gradient_accumulation_steps=d.gradient_accumulation_steps, max_steps=d.max_steps,
        max_length=d.max_length, lr_scheduler_type=d.lr_scheduler_type, warmup_steps=d.warmup_steps,
        weight_decay=d.weight_decay, max_grad_norm=d.max_grad_norm, logging_steps=d.logging_steps,
        save_strategy="steps", save_steps=d.save_steps, save_total_limit=d.keep_checkpoints,
        seed=d.seed, data_seed=d.seed, report_to="none", disable_tqdm=True,
        # Without use_cpu, Ray Train's CPU workers each train alone on all the data (no gloo DDP).
        use_cpu=use_cpu, bf16=d.bf16 and not use_cpu,
        gradient_checkpointing=cfg.model.gradient_checkpointing and not use_cpu,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        # The collator adds region/example metadata; TRL must keep every column for it.
        remove_unused_columns=False, dataloader_num_workers=0, ddp_find_unused_parameters=False,
        loss_type=["sigmoid"], precompute_ref_log_probs=False, deepspeed=d.deepspeed,
    )
    args.update(overrides)
    return DPOConfig(**args)


def load_dataset(input_dir: str | Path):
    from datasets import Dataset

    from hydra_ray.prefs.dataset import read_labels

    path = Path(input_dir) / "labels.parquet"
    try:
        rows = read_labels(path)
    except (OSError, ValueError, KeyError) as e:   # pyarrow's ArrowInvalid is a ValueError
        raise _input_error(path, e) from None
    if not rows:
        raise ConfigError([f"--input {input_dir}: labels.parquet has no rows; nothing to train on"],
                          "train (on a Ray Train worker)")
    return Dataset.from_list(rows)


def _input_error(path: Path, error: BaseException) -> ConfigError:
    """An unreadable input file: a configuration problem (no retry can fix it), not a crash; worded as
    the driver's check words it (which reads only the file's footer, so corrupt data pages come here)."""
    from hydra_ray.train.labelled_input import unreadable_problem

    return ConfigError([unreadable_problem(path, error)], "train (on a Ray Train worker)")


def load_labeler(input_dir: str | Path):
    from hydra_ray.prefs.labels import Labeler

    path = Path(input_dir) / "labeler.json"
    try:
        return Labeler.load(path)
    except (OSError, ValueError, KeyError, TypeError) as e:   # json.JSONDecodeError is a ValueError
        raise _input_error(path, e) from None


def build_trainer(cfg: TrainConfig, input_dir: str | Path, output_dir: str | Path, *, use_cpu: bool,
                  concentration: Callable[[], Sequence[float]] | None = None, rank: int = 0,
                  loss_sink=None, callbacks: list | None = None, model=None, tokenizer=None,
                  init_lora_weights: bool = True, args_overrides: dict | None = None):
    """A ready :class:`RegionDPOTrainer` with the hydra collator (enhanced or base framework)."""
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    from hydra_ray.train.collator import HydraPreferenceCollator
    from hydra_ray.train.dpo import RegionDPOTrainer
    from hydra_ray.train.relabel import Relabeler

    tokenizer = tokenizer or load_tokenizer(cfg)
    model = model if model is not None else load_model(cfg)
    args = dpo_args(cfg, output_dir, use_cpu=use_cpu, **(args_overrides or {}))
    padder = DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id, max_length=args.max_length,
                                       truncation_mode=args.truncation_mode)
    relabeler = None
    if cfg.framework == "enhanced":
        relabeler = Relabeler(load_labeler(input_dir), cfg.alpha.max_relabel_tries)
    collator = HydraPreferenceCollator(tokenizer, padder, framework=cfg.framework, relabeler=relabeler,
                                       concentration=concentration, seed=cfg.dpo.seed, rank=rank)
    return RegionDPOTrainer(model=model, args=args, data_collator=collator, train_dataset=load_dataset(input_dir),
                            processing_class=tokenizer,
                            peft_config=None if cfg.model.init_adapter else lora_config(cfg, init_lora_weights=init_lora_weights),
                            callbacks=callbacks, loss_sink=loss_sink)
