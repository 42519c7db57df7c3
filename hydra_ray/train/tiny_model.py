"""A tiny, deterministic Qwen2 model and tokenizer, built offline for tests, benchmarks and the quickstart.

The model has Qwen2's architecture with random weights; the tokenizer is a byte-level BPE fitted in-repo on
``tiny_corpus.txt`` (PIE Python programs), with Qwen2's NFC normaliser and split regex so that the ids are the
same whether ``tokenizers.Tokenizer`` or transformers' ``Qwen2Tokenizer`` (what ``AutoTokenizer`` returns for
``model_type: qwen2``, and which re-applies those two itself) loads it. It is loaded by the same
``from_pretrained`` code path as a real Hugging Face model directory.

For pytest, a session fixture (add to ``tests/conftest.py``)::

    @pytest.fixture(scope="session")
    def tiny_model_dir(tmp_path_factory):
        from hydra_ray.train.tiny_model import build_tiny_model
        return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).with_name("tiny_corpus.txt")

# ChatML, as Qwen2.5 instruct models use it; the generation prompt ends on a newline so that a
# completion always starts on a fresh pre-token (TRL then finds the prompt as an exact prefix).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)   # byte-level BPE: every byte is a token before any merge

# Same split regex as transformers.models.qwen2.tokenization_qwen2.PRETOKENIZE_REGEX (Qwen's own).
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


@dataclass(frozen=True)
class TinyModelSpec:
    vocab_size: int = 2048
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 4096


def build_tokenizer(vocab_size: int = 2048):
    """Fit a byte-level BPE on the shipped corpus; deterministic (single pass, fixed order)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = CORPUS.read_text(encoding="utf-8")
    tok.train_from_iterator(text.split("\n\n\n"), trainer=trainer, length=None)
    return tok


def build_tiny_model(out_dir: str | Path, seed: int = 0, spec: TinyModelSpec = TinyModelSpec()) -> Path:
    """Write a random-weight Qwen2 causal LM plus tokenizer to ``out_dir``; returns the directory.

    The same ``seed`` and ``spec`` give byte-identical weights and tokenizer files.
    """
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(spec.vocab_size)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=["<|im_start|>"],
        model_max_length=spec.max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    # AutoTokenizer picks the class from here; Qwen2Tokenizer rebuilds the same normaliser/pre-tokenizer.
    cfg_path = out / "tokenizer_config.json"
    tcfg = json.loads(cfg_path.read_text())
    tcfg["tokenizer_class"] = "Qwen2Tokenizer"
    tcfg["errors"] = "replace"
    tcfg["split_special_tokens"] = False
    cfg_path.write_text(json.dumps(tcfg, indent=2, sort_keys=True) + "\n")

    vocab = tok.get_vocab_size()
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tok.token_to_id("<|endoftext|>"),
        eos_token_id=tok.token_to_id("<|im_end|>"),
        pad_token_id=tok.token_to_id("<|endoftext|>"),
        use_cache=True,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out)
    return out
