"""A function's source text, exactly as ``inspect.getsource`` gives it, without the tokenizer.

``inspect.getsource`` finds where a function starts cheaply, then finds where it ends by running
the pure-Python tokenizer over it: about 70 µs for a three-line task, paid for every step's
signature (a 300-step workflow spent 20 ms there). For a function defined at the top level of
its file (a task, nearly always), the end comes from the C parser instead: the lines from its
first decorator up to the next line of code in column 0 are parsed alone, and the function
ends at its ``end_lineno`` plus the trailing comments ``inspect`` keeps. If that cut falls
inside a string or brackets, the chunk does not parse and ``inspect`` decides, as it does for
nested functions and lambdas. Only the function's own lines are parsed: parsing the whole file
once was as fast, but its syntax tree raised the peak memory of a 3,000-step run by 12 MiB.
The start still comes from ``inspect.findsource``, so both agree on decorators,
``functools.wraps`` and files edited since import.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

__all__ = ["function_source"]


def _chunk_end(lines: list[str], first: int) -> int:
    """Index after the last line before the next line of code in column 0 (from ``first``+1)."""
    for index in range(first + 1, len(lines)):
        text = lines[index]
        if text[:1] not in ("", " ", "\t", "#", "\n", "\r", "\f"):
            return index
    return len(lines)


def _with_trailing_comments(lines: list[str], last: int, column: int | None) -> int:
    """``inspect.getblock`` also keeps the comment lines after the last statement, up to the
    next code line, that are indented at least as deep as the body (``BlockFinder``)."""
    if column is None:
        return last
    for number in range(last + 1, len(lines) + 1):
        text = lines[number - 1]
        stripped = text.lstrip()
        if not stripped or stripped.startswith(("\n", "\r")):
            continue
        if not stripped.startswith("#"):
            break
        if len(text) - len(stripped) >= column:
            last = number
    return last


def _top_level_end(lines: list[str], lnum: int) -> int | None:
    """The index after the last line of the top-level function starting at ``lines[lnum]``;
    ``None`` when that cannot be told from its own lines."""
    if lines[lnum][:1] in (" ", "\t"):
        return None  # nested or a method: inspect decides
    end = _chunk_end(lines, lnum)
    try:
        tree = ast.parse("".join(lines[lnum:end]))
    except (SyntaxError, ValueError):
        return None
    if not tree.body or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    node = tree.body[0]
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    if first != 1 or node.end_lineno is None:
        return None
    body = node.body[0]
    # A body on the def's own line has no indented block, so no comments join it.
    column = body.col_offset if body.lineno > node.lineno else None
    return lnum + _with_trailing_comments(lines[lnum:end], node.end_lineno, column)


def function_source(func: Any) -> str:
    """``inspect.getsource(func)`` for a function; raises what it raises (``OSError``,
    ``TypeError``) when there is no source."""
    target = inspect.unwrap(func)
    code = getattr(target, "__code__", None)
    if not inspect.isfunction(target) or code is None or code.co_name == "<lambda>":
        return inspect.getsource(func)
    lines, lnum = inspect.findsource(target)
    end = _top_level_end(lines, lnum)
    if end is None or end <= lnum:
        return "".join(inspect.getblock(lines[lnum:]))
    return "".join(lines[lnum:end])
