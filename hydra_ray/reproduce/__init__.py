"""``hydra-ray reproduce``: the Hydra paper's figures and tables that run without a GPU, beside its numbers.

Modules: ``paper`` (the paper's numbers and statements, quoted), ``coverage`` (Fig. 7 statistics and plot),
``evaluation`` (Table III and Table II from one measured ``evaluate`` run), ``training`` (Fig. 5/6/8 from a
tiny run or a given metrics.jsonl), ``sections`` (one REPORT.md section each, with a verdict), ``runner``
(the plan for ``--quick`` and the full run, the embedded Ray, REPORT.md). Fig. 10/11 come from
:mod:`hydra_ray.train.simulate`.
"""
