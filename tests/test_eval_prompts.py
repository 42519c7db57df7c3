"""Prompt configurations and code extraction from model answers."""
from __future__ import annotations

import pytest

from hydra_ray.evaluate.prompts import (GUIDANCE, OBJECTIVE_WEIGHTS, OBJECTIVES, PROMPT_CONFIGS, extract_code,
                                        render)
from hydra_ray.metrics.names import METRIC_NAMES

CODE = "n = int(input())\ntotal = 0\nfor i in range(n):\n    total += i\nprint(total)\n"


def test_six_configurations_render_distinct_prompts_with_the_code():
    assert len(PROMPT_CONFIGS) == 6
    users = []
    for config in PROMPT_CONFIGS:
        msgs = render(config, CODE)
        assert [m["role"] for m in msgs] == ["system", "user"]
        assert CODE.rstrip() in msgs[1]["content"]
        users.append(msgs[1]["content"])
    assert len(set(users)) == 6
    detailed = render("memory/detailed", CODE)[1]["content"]
    assert all(g in detailed for g in GUIDANCE["memory"])
    assert not any(g in render("memory/minimal", CODE)[1]["content"] for g in GUIDANCE["memory"])


def test_objective_weights_are_distributions_over_the_metrics():
    for o in OBJECTIVES:
        w = OBJECTIVE_WEIGHTS[o]
        assert len(w) == len(METRIC_NAMES) and abs(sum(w) - 1) < 1e-12 and min(w) >= 0


def test_unknown_configuration_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="runtime/minimal"):
        render("speed/short", CODE)


@pytest.mark.parametrize("answer, expected", [
    ("```python\nprint(1)\n```", "print(1)\n"),
    # A tagged block wins over an untagged one.
    ("```\nnot it\n```\ntext\n```python\nprint(2)\n```", "print(2)\n"),
    # Of several tagged blocks, the full program (longest) rather than a snippet from the explanation.
    ("Use `x`:\n```python\nx = 1\n```\nFull:\n```py\nimport sys\nprint(sys.argv)\n```", "import sys\nprint(sys.argv)\n"),
    # Cut off at max_tokens: the open fence still yields its content.
    ("```python\nfor i in range(3):\n    print(i)\n", "for i in range(3):\n    print(i)\n"),
    # No fence, but the whole answer is a program.
    ("print('bare')\n", "print('bare')\n"),
    # Prose only, or an empty fence: nothing.
    ("Sorry, I can't do that.", None),
    ("```python\n\n```", None),
    ("", None),
])
def test_extract_code(answer, expected):
    assert extract_code(answer) == expected
