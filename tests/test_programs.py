"""Same program = same syntax tree (hydra_ray/data/programs.py), and where it is used: label skips such
pairs, serve reports a reformatted original as unchanged, enrich records the key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hydra_ray.data.programs import program_key, same_program

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pie_python_pairs_cn.jsonl"

# PIE's p03759:s246152829-s501080791 (reported_speedup 31.5x): the two programs differ in one pair of parentheses.
SLOW = 'a, b, c = list(map(int, input().split()))\nif (b - a) == (c - b):\n    print("YES")\nelse:\n    print("NO")\n'
FAST = 'a, b, c = list(map(int, input().split()))\nif b - a == c - b:\n    print("YES")\nelse:\n    print("NO")\n'


def test_formatting_comments_and_redundant_parentheses_are_the_same_program():
    reformatted = "# check the progression\na,b,c=list(map(int,input().split()))\nif (b-a)==(c-b): print('YES')\nelse:\n  print('NO')  # done\n"
    assert same_program(SLOW, FAST) and same_program(SLOW, reformatted)
    assert program_key(SLOW) == program_key(FAST) and len(program_key(SLOW)) == 32


@pytest.mark.parametrize("other", [
    SLOW.replace("(c - b)", "(b - c)"),                 # a different operand order is a different program
    SLOW.replace('"YES"', '"Yes"'),                     # a different constant
    '"""Docstring."""\n' + SLOW,                        # a docstring is part of the tree: kept apart, to be safe
])
def test_any_change_to_the_tree_is_a_different_program(other):
    assert not same_program(SLOW, other) and program_key(SLOW) != program_key(other)


def test_sources_that_do_not_parse_are_compared_by_text_only():
    py2 = "print 'hello'\n"
    assert program_key(py2) is None and program_key("x = 1\0\n") is None
    assert same_program(py2, "  print 'hello'\n\n") and not same_program(py2, "print  'hello'\n")


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data is not beside this checkout")
def test_the_shared_pie_pairs_hold_pairs_of_the_same_program():
    """Real data: the verified PIE file has pairs whose two programs have the same tree (3 of 729 when this
    was written); p03759's is one, though PIE reports it 31.5x apart."""
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    same = {r["pair_id"]: r["reported_speedup"] for r in rows if same_program(r["slow"]["code"], r["fast"]["code"])}
    assert "p03759:s246152829-s501080791" in same and same["p03759:s246152829-s501080791"] > 30
    assert 1 <= len(same) <= 10
