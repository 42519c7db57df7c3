"""The chat template (hydra_ray.prefs.prompt): weights stated, program fenced, code extracted back."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydra_ray.prefs.prompt import SYSTEM_PROMPT, extract_code, format_weights, render_completion, render_messages

_ROOT = Path(__file__).resolve().parents[1]
PIE = next((p for p in (_ROOT.parent / "shared" / "data" / "pie_python_pairs_cn.jsonl",
                        Path("/work/shared/data/pie_python_pairs_cn.jsonl")) if p.is_file()), None)
needs_pie = pytest.mark.skipif(PIE is None, reason="shared/data/pie_python_pairs_cn.jsonl not found")


def _real_program() -> str:
    with open(PIE) as f:
        return json.loads(f.readline())["slow"]["code"]


@needs_pie
def test_prompt_states_weights_and_contains_the_original_program():
    code = _real_program()
    msgs = render_messages(code, [0.55, 0.05, 0.2, 0.1, 0.1])
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == SYSTEM_PROMPT
    user = msgs[1]["content"]
    assert "runtime 0.55, peak memory 0.05, CPU cycles 0.20, throughput 0.10, energy 0.10" in user
    assert extract_code(user) == code.rstrip()


@needs_pie
def test_completion_is_one_assistant_message_in_a_python_fence():
    code = _real_program()
    (msg,) = render_completion(code)
    assert msg["role"] == "assistant"
    assert msg["content"].startswith("```python\n") and msg["content"].endswith("\n```")
    assert extract_code(msg["content"]) == code.rstrip()


@settings(max_examples=200, deadline=None)
@given(code=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1).filter(lambda s: s.strip()))
def test_extract_code_inverts_render_completion(code):
    """Any program, including one containing backtick runs, round-trips (up to trailing whitespace)."""
    code = "x = 1\n" + code   # a realistic program does not start with a blank fence-like line
    assert extract_code(render_completion(code)[0]["content"]) == code.rstrip()


def test_extract_code_handles_model_style_replies():
    reply = "Here is a faster version:\n\n```python\nprint(sum(map(int, input().split())))\n```\nIt avoids a loop."
    assert extract_code(reply) == "print(sum(map(int, input().split())))"
    assert extract_code("```bash\nls\n```\n```py\nprint(1)\n```") == "print(1)"
    assert extract_code("```\nprint(2)\n```") == "print(2)"
    assert extract_code("```text\nonly text\n```") == "only text"
    assert extract_code("no code here") is None
    assert extract_code("```python\nprint(1)\n# cut off by the token limit") is None


def test_code_with_backticks_gets_a_longer_fence():
    code = 's = """\n```python\nx\n```\n"""\nprint(s)'
    content = render_completion(code)[0]["content"]
    assert content.startswith("````python\n")
    assert extract_code(content) == code


def test_format_weights_rejects_wrong_length():
    with pytest.raises(ValueError, match="weights need 5 values"):
        format_weights([1.0])
