"""DPO training under Ray Train with a shared adaptive Dirichlet α.

Pure logic (no Ray, no torch): ``alpha`` (the α controller and its update rules), ``hub`` (what the named
Ray actor serves), ``relabel`` (per-batch re-labelling), ``simulate`` (the isolated α simulation),
``config`` (presets and the node check). Training: ``builder`` (model, tokenizer, trainer), ``collator``,
``dpo`` (per-example DPO losses from TRL's own computation), ``worker`` (Ray Train loop), ``driver``
(``hydra-ray train``), ``plots``. Fixtures: ``tiny_model`` and ``sample_data``.
"""
