"""The files a serve config names, found on this node: the model (base, adapter, tokenizer), the
recorded outputs and the labeler; and the config with those paths pinned for replicas elsewhere.

Separate from :mod:`hydra_ray.serve.config`, which only validates values: everything here reads the
file system (and ``effective_conditioning`` the adapter's prompt record).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from hydra_ray.serve.config import MODEL_BACKENDS, ModelSection, ServiceConfig

PACKAGE_DIR = Path(__file__).resolve().parent


class ModelPathError(ValueError):
    """The model or adapter the config names cannot be found; the message says where it looked."""


@dataclass(frozen=True)
class ResolvedModel:
    base: str                  # HF id or directory
    adapter: str | None        # peft adapter directory
    tokenizer: str             # where the tokenizer is read from (the adapter dir when it has one)


def _has_tokenizer(d: Path) -> bool:
    return (d / "tokenizer_config.json").is_file() or (d / "tokenizer.json").is_file()


def resolve_model(section: ModelSection) -> ResolvedModel:
    """Base model, adapter and tokenizer locations from a training output or explicit paths."""
    adapter = section.adapter
    out = Path(section.training_output) if section.training_output else None
    if adapter is None and out is not None:
        if not out.is_dir():
            raise ModelPathError(f"model.training_output: {out} is not a directory (expected the --output "
                                 "of hydra-ray train)")
        if not (out / "adapter").is_dir():
            raise ModelPathError(f"model.training_output: {out} has no adapter/ directory; hydra-ray train writes "
                                 f"{out}/adapter when training completes (is it still running?)")
        adapter = str(out / "adapter")
    base = section.base
    if adapter is not None:
        cfg_file = Path(adapter) / "adapter_config.json"
        if not cfg_file.is_file():
            raise ModelPathError(f"model adapter {adapter}: no adapter_config.json there; expected a directory "
                                 "written by peft's save_pretrained")
        if base is None:
            base = json.loads(cfg_file.read_text()).get("base_model_name_or_path") or None
        if base is None and out is not None and (out / "config.yaml").is_file():
            base = ((yaml.safe_load((out / "config.yaml").read_text()) or {}).get("model") or {}).get("name_or_path")
    if not base:
        raise ModelPathError("model: no base model: set model.base (an HF id or model directory); the adapter "
                             "does not name one")
    tokenizer = adapter if adapter is not None and _has_tokenizer(Path(adapter)) else base
    return ResolvedModel(str(base), adapter, str(tokenizer))


def resolve_data_path(path: str, what: str) -> Path:
    """A file named in the config: as given (relative to the working dir), else inside this package."""
    p = Path(path)
    for cand in (p, PACKAGE_DIR / p):
        if cand.is_file():
            return cand.resolve()
    raise FileNotFoundError(f"{what}: {path} not found (looked in {Path.cwd()} and {PACKAGE_DIR})")


def absolutize(cfg: ServiceConfig) -> ServiceConfig:
    """Relative local paths made absolute where they exist, so replicas (other working dirs) find them."""
    def fix(p: str | None) -> str | None:
        return str(Path(p).resolve()) if p and Path(p).exists() else p

    model = cfg.model.replace(training_output=fix(cfg.model.training_output), base=fix(cfg.model.base),
                              adapter=fix(cfg.model.adapter))
    if cfg.backend in MODEL_BACKENDS and model.base is None:
        # The adapter names its base as training saw it, often relative to where training ran: pin
        # what exists here now, so a replica with another working directory loads the same files.
        try:
            resolved = resolve_model(model)
        except ModelPathError:
            pass  # reported by the generation replica, which needs the files
        else:
            if Path(resolved.base).exists():
                model = model.replace(base=str(Path(resolved.base).resolve()))
    recorded = cfg.recorded
    if recorded.path:
        try:
            recorded = recorded.replace(path=str(resolve_data_path(recorded.path, "recorded.path")))
        except FileNotFoundError:
            pass  # reported where the file is needed (the generation replica), with where it looked
    reward = cfg.reward.replace(labeler=fix(cfg.reward.labeler))
    model = model.replace(prompt_conditioning=effective_conditioning(cfg.replace(model=model)))
    return cfg.replace(model=model, recorded=recorded, reward=reward)


def effective_conditioning(cfg: ServiceConfig) -> str:
    """The prompt conditioning the service renders: the adapter's (``hydra_prompt.json``) for the model
    backend; ``model.prompt_conditioning`` (default weights) otherwise. A contradiction is a ModelPathError."""
    from hydra_ray.prefs.prompt import read_prompt_record, resolve_conditioning

    recorded, where = None, "the model"
    if cfg.backend in MODEL_BACKENDS:
        try:
            adapter = resolve_model(cfg.model).adapter
        except ModelPathError:
            adapter = None   # reported by the generation replica, which needs the files
        recorded, where = read_prompt_record(adapter), f"adapter {adapter}"
    try:
        return resolve_conditioning(cfg.model.prompt_conditioning, recorded, where)
    except ValueError as e:
        raise ModelPathError(f"model.{e}") from None
