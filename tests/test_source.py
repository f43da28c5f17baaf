"""``function_source`` is ``inspect.getsource``, for every function of real files, once it has
parsed the file (plugins/source.py): the step signature and smart fingerprints hash it, so any
difference would re-run completed steps after an upgrade."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import linecache
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from invoke_checkpoints.plugins import source
from invoke_checkpoints.plugins.source import function_source

ROOT = Path(__file__).resolve().parent.parent
#: Stdlib modules with decorators, nested functions, multi-line signatures and strings,
#: comments after a body, async functions, lambdas and one-line bodies.
MODULES = [
    "argparse",
    "asyncio.tasks",
    "dataclasses",
    "functools",
    "inspect",
    "json.decoder",
    "textwrap",
    "tokenize",
    "typing",
    "unittest.mock",
    "contextlib",
]


def _functions_of(module: types.ModuleType) -> list[types.FunctionType]:
    found: list[types.FunctionType] = []
    seen: set[int] = set()

    def visit(obj: object, depth: int) -> None:
        if id(obj) in seen or depth > 3:
            return
        seen.add(id(obj))
        if inspect.isfunction(obj):
            if getattr(obj, "__module__", None) == module.__name__:
                found.append(obj)
                for const in obj.__code__.co_consts:  # nested functions' code: via closures
                    del const
        elif inspect.isclass(obj) and obj.__module__ == module.__name__:
            for value in vars(obj).values():
                visit(getattr(value, "__func__", value), depth + 1)

    for value in vars(module).values():
        visit(value, 0)
    return found


def _project_functions() -> list[types.FunctionType]:
    """Every function of the fixture projects' and examples' tasks.py files."""
    found: list[types.FunctionType] = []
    for path in sorted(
        [*ROOT.glob("tests/projects/*/tasks.py"), *ROOT.glob("examples/*/tasks.py")]
    ):
        name = f"_source_check_{path.parent.name}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:  # a fixture that needs its own environment: skip it
            continue
        finally:
            sys.modules.pop(name, None)
        for value in vars(module).values():
            body = getattr(value, "body", value)
            if inspect.isfunction(body) and body.__module__ == name:
                found.append(body)
    return found


@pytest.fixture
def parse_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the parsed path from the first request (it normally waits until it pays off)."""
    monkeypatch.setattr(source, "_BYTES_PER_REQUEST", 10**12)
    monkeypatch.setattr(source, "_MAX_PARSED", 10**12)
    monkeypatch.setattr(source, "_INDEXES", {})


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of each text ``ast.parse`` is given (the pieces of files parsed)."""
    sizes: list[int] = []
    real_parse = ast.parse

    def measured(text: str, *args: Any, **kwargs: Any) -> ast.Module:
        sizes.append(len(text))
        tree: ast.Module = real_parse(text, *args, **kwargs)
        return tree

    monkeypatch.setattr(ast, "parse", measured)
    return sizes


@pytest.mark.usefixtures("parse_at_once")
@pytest.mark.parametrize("name", MODULES)
def test_same_text_as_inspect_for_every_function_of_a_stdlib_module(name: str) -> None:
    functions = _functions_of(importlib.import_module(name))
    assert len(functions) > 5
    for func in functions:
        assert function_source(func) == inspect.getsource(func), func.__qualname__


@pytest.mark.usefixtures("parse_at_once")
def test_same_text_as_inspect_for_the_projects_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # some fixtures write files when imported
    functions = _project_functions()
    assert len(functions) > 20
    for func in functions:
        assert function_source(func) == inspect.getsource(func), func.__qualname__


@pytest.mark.usefixtures("parse_at_once")
def test_decorated_wrapped_nested_and_edited_functions(tmp_path: Path) -> None:
    path = tmp_path / "edgy.py"
    path.write_text(
        textwrap.dedent('''
        import functools


        def deco(f):
            @functools.wraps(f)
            def inner(*a, **k):
                return f(*a, **k)
            return inner


        @deco
        @deco
        def wrapped(c,
                    x=(1,
                       2)):
            """Doc."""
            return """multi
        line"""  # trailing comment
            # comment after the body, indented


        def one_liner(c): return 1


        def outer():
            def nested(c):
                pass
            return nested


        async def coro(c):
            await c
    ''')
    )
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("edgy")
        funcs = [module.wrapped, module.one_liner, module.outer(), module.coro, module.deco]
        for func in funcs:
            assert function_source(func) == inspect.getsource(func)
        assert "trailing comment" in function_source(module.wrapped)
        # The file changes after import: both read the new text at the same lines.
        path.write_text(path.read_text().replace("return 1", "return 2  # edited"))
        assert function_source(module.one_liner) == inspect.getsource(module.one_liner)
        assert "edited" in function_source(module.one_liner)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("edgy", None)


def test_without_source_it_raises_what_inspect_raises() -> None:
    namespace: dict[str, object] = {}
    exec("def made(c):\n    return 1\n", namespace)
    with pytest.raises(OSError):
        inspect.getsource(namespace["made"])  # type: ignore[arg-type]
    with pytest.raises(OSError):
        function_source(namespace["made"])
    with pytest.raises(TypeError):
        function_source(functools.partial(print))


_PIECE = """

@task
def plain_{n}(c):
    \"\"\"Docstring {n}.\"\"\"
    return {n}  # trailing comment
    # a comment that belongs to the body


# a comment between definitions
@task(
    help={{"x": "help"}},
)
def decorated_{n}(c, x=1):
    if x:
        return x
    return None


TEXT_{n} = \"\"\"
def looks_like_code_{n}():

@but_is_a_string
def {n}
\"\"\"


def nested_{n}():
    def inner():
        return 1

    return inner
"""


@pytest.mark.parametrize("fooled", [False, True])
def test_a_large_file_is_parsed_in_pieces_within_the_bound(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fooled: bool, parsed: list[int]
) -> None:
    """A file is parsed piece by piece, each cut before a top-level definition and within the
    bound: a syntax tree of a whole big tasks.py would cost more
    memory than the whole run (M1). Every function still reads exactly as inspect gives it,
    most of them from a piece. ``fooled``: a stray triple quote in a comment makes the cuts
    land inside strings, where lines look like definitions: the pieces around them fall back
    to inspect, still with inspect's text."""
    monkeypatch.setattr(source, "_INDEXES", {})
    monkeypatch.setattr(source, "_PIECE", 2000)
    monkeypatch.setattr(source, "_MAX_PARSED", 2000)
    monkeypatch.setattr(source, "_BYTES_PER_REQUEST", 10**12)
    path = tmp_path / "big_tasks.py"
    head = (
        "def task(*args, **kwargs):\n    return args[0] if args and callable(args[0]) else task\n"
    )
    piece = _PIECE.replace("# a comment between", '# a """ comment between') if fooled else _PIECE
    path.write_text(head + "".join(piece.format(n=n) for n in range(40)))
    spec = importlib.util.spec_from_file_location("big_tasks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions = [v for k, v in vars(module).items() if inspect.isfunction(v) and k != "task"]
    functions += [f() for f in functions if f.__name__.startswith("nested_")]
    assert len(functions) == 160
    for func in functions:
        assert function_source(func) == inspect.getsource(func), func.__qualname__
    assert len(parsed) >= 5 and max(parsed) <= 2000, parsed
    found = [f for f in functions if source._indexed_source(f.__code__) is not None]
    assert len(found) >= (1 if fooled else 3 * len(functions) // 4), (len(found), len(functions))
    assert fooled == (len(found) < len(functions))
    assert all(source._indexed_source(f.__code__) == inspect.getsource(f) for f in found)


@pytest.mark.usefixtures("parse_at_once")
def test_once_a_piece_is_parsed_its_functions_are_found_without_inspect() -> None:
    """After the first request in a piece of the file, the index answers alone for every
    function of that piece (without the rest of ``findsource``), with inspect's text."""
    functions = [
        f
        for f in _functions_of(importlib.import_module("json.decoder"))
        if f.__code__.co_name != "<lambda>" and inspect.unwrap(f) is f
    ]
    lines = linecache.getlines(functions[0].__code__.co_filename)
    assert len(source._pieces(lines)[0]) > 1  # the file is cut: this is about pieces
    parsed: set[int] = set()
    for func in functions:
        function_source(func)
        index = next(i for i in source._INDEXES.values() if i.lines is lines)
        assert index.parsed >= parsed  # a piece is parsed once
        parsed = set(index.parsed)
    for func in functions:
        assert source._indexed_source(func.__code__) == inspect.getsource(func), func.__qualname__


def test_functions_announced_together_have_their_file_parsed_at_the_first_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``expect``: a run about to ask for many functions of one file gets them all from one
    parse, from the first request on; unannounced, the first requests go through inspect."""
    monkeypatch.setattr(source, "_INDEXES", {})
    monkeypatch.setattr(source, "_EXPECTED", {})
    functions = [
        f
        for f in _functions_of(importlib.import_module("textwrap"))
        if f.__code__.co_name != "<lambda>"
    ]
    assert function_source(functions[0]) == inspect.getsource(functions[0])
    assert all(index.ends is None for index in source._INDEXES.values())  # not worth it yet

    monkeypatch.setattr(source, "_INDEXES", {})
    source.expect(functions * 20)
    assert function_source(functions[0]) == inspect.getsource(functions[0])
    assert [index.ends is not None for index in source._INDEXES.values()] == [True]
    assert source._EXPECTED == {}


def test_a_resume_parses_only_the_part_of_the_file_that_holds_its_steps(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, parsed: list[int]
) -> None:
    """Steps 150-299 of a 300-task tasks.py (a resume after a failure at step 150) have their
    signatures from a parse of about the second half of the file, not of all of it."""
    monkeypatch.setattr(source, "_INDEXES", {})
    monkeypatch.setattr(source, "_EXPECTED", {})
    path = tmp_path / "resumed_tasks.py"
    body = "".join(
        f'\n\ndef t{n}(c):\n    """No-op task t{n}."""\n    return {n}\n' for n in range(300)
    )
    path.write_text('"""Tasks."""\n' + body)
    spec = importlib.util.spec_from_file_location("resumed_tasks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    later = [getattr(module, f"t{n}") for n in range(150, 300)]
    source.expect(later)
    for func in later:
        assert function_source(func) == inspect.getsource(func)
    size = path.stat().st_size
    assert parsed, "the file was never parsed: every request went through inspect"
    assert size / 2 <= sum(parsed) <= 0.6 * size, (sum(parsed), size)
    assert all(source._indexed_source(f.__code__) is not None for f in later)
