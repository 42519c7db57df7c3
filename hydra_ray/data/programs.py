"""When two sources are the same program: the same syntax tree.

Formatting, comments, redundant parentheses and line breaks do not reach the syntax tree, so two
sources with the same tree compile to the same operations. Measuring them against each other can
only measure noise, and the data has such pairs: PIE's ``reported_speedup`` puts
p03759:s246152829-s501080791 31.5x apart, and its two programs differ in one pair of parentheses.
A model that returns the original reformatted has not optimised it either. So labelling skips such
pairs (``same_program``) and serving reports such a candidate as ``unchanged``.

``syntax_problem`` says why a source is not Python 3 (serving rejects such a candidate, ``profile``
reports such a program), where and, for Python 2, that it is Python 2.

Docstrings are part of the tree (a changed docstring is a different program here): the key errs on
the side of "different", which at worst measures a pair that could have been skipped.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import warnings


@functools.lru_cache(maxsize=4096)
def program_key(code: str) -> str | None:
    """A short hash of ``code``'s syntax tree (no positions), or None when it does not parse as Python 3
    (then only the text can say whether two sources are the same)."""
    try:
        with warnings.catch_warnings():   # a user's invalid escape sequence is not ours to report
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):   # ValueError: NUL bytes in the source
        return None
    return hashlib.blake2b(ast.dump(tree, include_attributes=False).encode(), digest_size=16).hexdigest()


def same_program(a: str, b: str) -> bool:
    """``a`` and ``b`` are the same text (surrounding whitespace aside) or parse to the same syntax tree."""
    if a.strip() == b.strip():
        return True
    key = program_key(a)
    return key is not None and key == program_key(b)


def syntax_problem(code: str) -> str | None:
    """None when ``code`` parses as Python 3, else a one-line description with line and column."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(code)
    except SyntaxError as e:
        if e.lineno is None:   # refused before parsing (null bytes): the error has no position
            return str(e.msg) + _null_byte_position(code)
        where = f"line {e.lineno}" + (f", column {e.offset}" if e.offset else "")
        text = (e.text or "").strip()
        hint = " (Python 2 syntax?)" if "Missing parentheses" in str(e.msg) or text.startswith("print ") else ""
        return f"{e.msg} at {where}" + (f": {text[:120]!r}" if text else "") + hint
    except (ValueError, RecursionError) as e:   # null bytes; absurdly deep nesting
        return f"cannot be parsed: {e}" + _null_byte_position(code)
    return None


def _null_byte_position(code: str) -> str:
    if "\0" not in code:
        return ""
    before = code[:code.index("\0")]
    line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
    return f" (the first at line {line}, column {column})"
