"""The `hydra` optimiser in process: the trained adapter loaded here, no service needed.

It loads the model exactly as the Serve Generator deployment does (``hydra_ray.serve.backends``,
from a serve preset such as ``configs/serve/tiny-cpu.yaml`` with ``model.training_output``), and
answers the same requests the HTTP route would, so the ``hydra`` optimiser's prompts and parsing are
unchanged whichever way the model is reached.
"""
from __future__ import annotations

from typing import Sequence

from hydra_ray.evaluate.openai_client import ChatResult


class InProcessClient:
    """Stands where ``ChatClient`` stands: ``complete_many([(messages, sample_index), …])``."""

    def __init__(self, serve_preset: str, overrides: Sequence[str] = (), *, max_new_tokens: int = 512,
                 temperature: float = 0.0):
        from hydra_ray.serve.backends import make_backend
        from hydra_ray.serve.config import load_preset
        from hydra_ray.serve.config_paths import effective_conditioning

        service = load_preset(serve_preset, overrides).app.args
        # What the model was trained with (its adapter's hydra_prompt.json), or the preset's setting.
        self.conditioning = effective_conditioning(service)
        self.backend = make_backend(service)
        self.max_new_tokens, self.temperature = max_new_tokens, temperature

    def complete_many(self, requests: Sequence[tuple[list[dict], int]]) -> list[ChatResult | Exception]:
        from hydra_ray.serve.backends import GenRequest

        reqs = [GenRequest.of(messages, n=1, max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                              seed=index) for messages, index in requests]
        out: list[ChatResult | Exception] = []
        for res in self.backend.generate_batch(reqs):
            if res.error:
                out.append(RuntimeError(res.error))
            else:
                out.append(ChatResult(res.generations[0].text, False, 1, "", {"prompt_tokens": res.prompt_tokens}))
        return out
