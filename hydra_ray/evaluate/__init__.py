"""Evaluation harness (``hydra-ray evaluate``).

- ``tasks``: Task / TestCase, what suites yield.
- ``suites``: patterns (built-in programs), pie-heldout (+ the held-out split API used by training:
  ``suites.pie.load_split`` / ``check_disjoint``), humaneval, users' JSONL.
- ``optimizers``, ``prompts``, ``openai_client``: where candidates come from.
- ``harness``: the loop; ``measure_task`` is the profiler's entry point.
- ``stats`` (pure numpy), ``aggregate``: ratios, intervals, %Opt, speedup, Table II, steerability.
- ``report``, ``plots``, ``compare``: files written for a run, and the comparison of two runs.
"""
