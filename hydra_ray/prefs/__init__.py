"""Preferences: Dirichlet weights, normalised rewards, noise-aware labels and the DPO dataset.

Modules: ``dirichlet`` (weights, presets, regions), ``normalize`` (log_ratio / paper scores),
``labels`` (``Labeler``: who wins under a weight vector; save/load), ``prompt`` (the chat template),
``pairs`` (enriched candidates → pairs), ``dataset`` (examples, Parquet/JSONL), ``summary`` and
``plots`` (stats.json, PNGs), ``run`` (one ``hydra-ray label`` run), ``config`` (``LabelConfig``).
"""
