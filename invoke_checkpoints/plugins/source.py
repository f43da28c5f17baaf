"""A function's source text, exactly as ``inspect.getsource`` gives it, for many functions of
one file at the cost of one parse.

``inspect.getsource`` finds where a function starts cheaply, then finds where it ends by running
the pure-Python tokenizer over it: about 70 µs for a three-line task, paid for every step's
signature (a 300-step workflow spends 20 ms there). Once a file has been asked for often enough
that parsing it costs less, the ends of its functions come from ``ast.parse`` (the C parser)
of the piece of the file that holds them: the same text, because a block ends at its last
logical line, which is the function's ``end_lineno``. The start still comes from
``inspect.findsource``, so both agree on decorators, ``functools.wraps`` and files edited
since import. (Parsing only each function's own lines was tried: ``ast.parse`` has a fixed
cost that makes it slower than the tokenizer for a small function.)
"""

from __future__ import annotations

import ast
import bisect
import inspect
import linecache
import re
import threading
from typing import Any

__all__ = ["expect", "function_source"]

#: Parse a file once a source request costs, summed, more than parsing it would: one
#: ``getsource`` of a small function costs about as much as parsing this many bytes.
_BYTES_PER_REQUEST = 400
#: A file is parsed in pieces cut before a top-level ``def``, ``class`` or decorator, each
#: when a function in it is first asked for: a resume that runs the last steps of a workflow
#: parses only the part of tasks.py that holds them (a 300-task file: 7 ms whole, 4 ms for its
#: second half). Pieces are about this many characters...
_PIECE = 4 * 1024
#: ...and at most this many are parsed at once: a syntax tree takes about 75 bytes of memory
#: per byte of source, and a whole 160 KB tasks.py (3,000 tasks) raised a run's peak memory by
#: 12 MiB. A function in a longer stretch without a place to cut is left to ``inspect``
#: (70 µs a function).
_MAX_PARSED = 64 * 1024

#: Lines that may start a piece: a top-level definition or decorator.
_TOP_LEVEL = ("@", "def ", "async def ", "class ")


class _FileIndex:
    """Requests and, for each piece parsed so far, the end line of each function (by its first
    line) of one version of a file's lines (``linecache`` returns a new list when the file
    changes)."""

    __slots__ = ("ends", "lines", "parsed", "requests", "sizes", "starts")

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines  # kept: the index is keyed by this list's identity
        self.requests = 0
        self.ends: dict[int, int] | None = None
        #: First line (0-based) and size of each piece, and the pieces parsed.
        self.starts, self.sizes = _pieces(lines)
        self.parsed: set[int] = set()


def _pieces(lines: list[str]) -> tuple[list[int], list[int]]:
    """Where each piece of about ``_PIECE`` characters starts (0-based lines), and its size:
    cut before the last top-level line that keeps the piece within that size. A line
    inside a multi-line string can look like one (the triple quotes are only counted): the
    pieces around such a cut fail to parse, or parse in step again from the next real
    definition on (a function's end comes only from a parse that reads its own ``def`` line
    as one), so their functions fall back to ``inspect``, never to a wrong end."""
    starts, sizes = [0], []
    size = 0
    cut: tuple[int, int] | None = None  # a candidate line and the piece's size before it
    quoted = ""  # the triple quote of a string this line may be inside (a rough count)
    for i, line in enumerate(lines):
        if not quoted and i > starts[-1] and line.startswith(_TOP_LEVEL) and _apart(lines[i - 1]):
            cut = (i, size)
        for quote in ('"""', "'''"):
            if (not quoted or quoted == quote) and line.count(quote) % 2:
                quoted = "" if quoted else quote
        size += len(line)
        if size > _PIECE and cut is not None:
            starts.append(cut[0])
            sizes.append(cut[1])
            size -= cut[1]
            cut = None
    sizes.append(size)
    return starts, sizes


def _apart(line: str) -> bool:
    """A line that may come right before a cut: blank or a comment (PEP 8 puts blank lines
    between top-level definitions; after a decorator, a backslash or an open bracket, a cut
    would split a statement)."""
    text = line.strip()
    return not text or text.startswith("#")


_INDEXES: dict[int, _FileIndex] = {}
_LOCK = threading.Lock()


def _function_ends(lines: list[str], begin: int = 0, end: int | None = None) -> dict[int, int]:
    """``{first line: last line}`` (1-based, in the whole file) of every function of the piece
    ``lines[begin:end]``, its decorators included."""
    ends: dict[int, int] = {}
    try:
        tree = ast.parse("".join(lines[begin:end]))
    except (SyntaxError, ValueError):
        return ends
    for node in _statements(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            body = node.body[0]
            # A body on the def's own line has no indented block, so no comments join it.
            column = body.col_offset if body.lineno > node.lineno else None
            last = _with_trailing_comments(lines, node.end_lineno + begin, column)
            ends[first + begin] = last
    return ends


#: Where statements hold other statements (functions are statements, so only these are walked,
#: not every expression node as ``ast.walk`` would: a quarter of the time).
_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(tree: ast.Module) -> list[ast.AST]:
    """Every statement of ``tree``, nested ones included (order does not matter)."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        for field in _BLOCKS:
            children = getattr(node, field, None)
            if type(children) is list:
                pending.extend(children)
    return found


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


#: Requests announced by ``expect``, by file name: counted as made when the file is indexed.
_EXPECTED: dict[str, int] = {}


def expect(functions: list[Any]) -> None:
    """``functions`` will be asked for soon (the steps a run is about to run): a file asked
    for enough is parsed at its first request rather than after enough of them."""
    with _LOCK:
        for func in functions:
            code = getattr(inspect.unwrap(func), "__code__", None)
            if code is not None:
                _EXPECTED[code.co_filename] = _EXPECTED.get(code.co_filename, 0) + 1


def _end_of(lines: list[str], start: int, filename: str) -> int | None:
    """The last line of the function starting at line ``start`` (1-based), when the file has
    been asked for often enough to be parsed; ``None``: let ``inspect`` find it."""
    with _LOCK:
        index = _INDEXES.get(id(lines))
        if index is None or index.lines is not lines:
            if len(_INDEXES) > 64:  # many files (or versions): start again
                _INDEXES.clear()
            index = _INDEXES[id(lines)] = _FileIndex(lines)
            index.requests = _EXPECTED.pop(filename, 0)
        index.requests += 1
        piece = bisect.bisect_right(index.starts, start - 1) - 1
        begin = index.starts[piece]
        end = index.starts[piece + 1] if piece + 1 < len(index.starts) else len(lines)
        size = index.sizes[piece]
        worth_it = index.requests * _BYTES_PER_REQUEST >= size
        if piece not in index.parsed and worth_it and size <= _MAX_PARSED:
            index.parsed.add(piece)
            if index.ends is None:
                index.ends = {}
            index.ends.update(_function_ends(lines, begin, end))
        return None if index.ends is None else index.ends.get(start)


#: ``inspect.findsource``'s pattern for the first line of a function (3.11): its start is the
#: code's first line when that line matches (3.13 takes the first line without looking).
_FIRST_LINE = re.compile(r"^(\s*def\s)|(\s*async\s+def\s)|(.*(?<!\w)lambda(:|\s))|^(\s*@)")


def _indexed_source(code: Any) -> str | None:
    """The source of a function of an already parsed file, found as ``findsource`` would find
    it (``linecache``'s current lines of the code's file, its first line) without the rest of
    ``findsource`` (``getsourcefile``'s existence check, ``getmodule``, a second ``checkcache``,
    the backward scan): ~7 µs a function instead of ~15 µs."""
    filename = code.co_filename
    if not filename.endswith(".py"):
        return None
    linecache.checkcache(filename)  # as findsource does: lines of the file as it is now
    entry = linecache.cache.get(filename)
    if entry is None or len(entry) != 4:  # a lazy (not yet loaded) entry: let inspect load it
        return None
    lines = entry[2]
    with _LOCK:
        index = _INDEXES.get(id(lines))
        ends = index.ends if index is not None and index.lines is lines else None
    start = code.co_firstlineno
    end = ends.get(start) if ends else None
    if end is None or not 0 < start <= len(lines) or not _FIRST_LINE.match(lines[start - 1]):
        return None
    return "".join(lines[start - 1 : end]) if end >= start else None


def function_source(func: Any) -> str:
    """``inspect.getsource(func)`` for a function; raises what it raises (``OSError``,
    ``TypeError``) when there is no source."""
    target = inspect.unwrap(func)
    code = getattr(target, "__code__", None)
    if not inspect.isfunction(target) or code is None or code.co_name == "<lambda>":
        return inspect.getsource(func)
    known = _indexed_source(code)
    if known is not None:
        return known
    lines, lnum = inspect.findsource(target)
    end = _end_of(lines, lnum + 1, code.co_filename)
    if end is None or end <= lnum:
        return "".join(inspect.getblock(lines[lnum:]))
    return "".join(lines[lnum:end])
