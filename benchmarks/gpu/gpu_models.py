"""The GPU check's models, built here from a config (no downloads): the tiny Qwen2, one of
Qwen2.5-Coder-7B's shape, and a random LoRA adapter around it as a training output."""
from __future__ import annotations

import json
import time
from pathlib import Path

# Qwen2.5-Coder-7B(-Instruct) config.json, the fields that set the shape.
QWEN7B = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
              num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, rope_theta=1000000.0,
              rms_norm_eps=1e-6, tie_word_embeddings=False)
SMOKE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=8192, max_position_embeddings=4096, rope_theta=1000000.0,
             rms_norm_eps=1e-6, tie_word_embeddings=False)


def build_big_model(out: Path, shape: dict, device: str) -> Path:
    """The tiny model's tokenizer and config, reshaped; random bf16 weights made on ``device``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from hydra_ray.train.tiny_model import build_tiny_model

    build_tiny_model(out)
    for f in out.glob("model*.safetensors"):
        f.unlink()
    cfg = AutoConfig.from_pretrained(out)
    cfg.update(shape)
    n_tok = len(AutoTokenizer.from_pretrained(out))
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    with torch.no_grad():
        w = model.lm_head.weight
        w[n_tok:].zero_()
        w[:n_tok].normal_(0.0, 10.0 / shape["hidden_size"] ** 0.5)   # logits ~ N(0, 10): decodable ids win
    model.generation_config.eos_token_id = cfg.eos_token_id
    model.generation_config.pad_token_id = cfg.pad_token_id
    model.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    (out / "bench-shape.json").write_text(json.dumps({"parameters": n_params, "shape": shape,
                                                      "tokenizer_tokens": n_tok}))
    del model
    return out


def build_adapter(base: Path, out: Path) -> Path:
    """A hydra-ray train output around a random LoRA (r=16, all linear layers): OUT/adapter + config."""
    import torch
    import yaml
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16 if device == "cuda" else None)
    torch.manual_seed(1)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                  init_lora_weights=False))
    peft_model.save_pretrained(out / "adapter")
    AutoTokenizer.from_pretrained(base).save_pretrained(out / "adapter")
    (out / "config.yaml").write_text(yaml.safe_dump({"model": {"name_or_path": str(base)}}))
    return out


def stage_prepare(work: Path, smoke: bool) -> dict:
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    t0 = time.perf_counter()
    build_tiny_model(work / "tiny")
    build_sample_labelled_set(work / "labelled", samples_per_pair=2)
    t1 = time.perf_counter()
    build_big_model(work / "big", SMOKE if smoke else QWEN7B, "cpu" if smoke else "cuda")
    t2 = time.perf_counter()
    build_adapter(work / "big", work / "big-train")
    info = json.loads((work / "big" / "bench-shape.json").read_text())
    return {"tiny_and_data_s": t1 - t0, "big_model_build_and_save_s": t2 - t1,
            "adapter_s": time.perf_counter() - t2, **info}
