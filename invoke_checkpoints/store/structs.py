"""Record classes without dataclasses' start-up cost, and their JSON.

A dataclass costs ~0.4 ms to create (it compiles its methods): 4 ms of every run's start-up for
the format's records (``records.py``). :func:`record` makes the same slotted, keyword-only
classes without compiling anything; type checkers read them as dataclasses
(``dataclass_transform``). :class:`Record` is a JSON object of the format: its fields, then the
unknown keys it was read with (pydantic's ``extra="allow"``). Standard library only.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime, timezone
from enum import Enum
from json.encoder import encode_basestring as _string
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from .vocabulary import iso

__all__ = [
    "Appended",
    "Record",
    "Struct",
    "dumps",
    "field",
    "floats",
    "pretty",
    "record",
    "timestamp",
]

_T = TypeVar("_T")
_R = TypeVar("_R", bound="Record")
#: A function of one JSON value (typed loosely: the tables mix classes and functions).
Convert = Any

_MISSING: Any = object()


class _Factory:
    """A field's ``field(default_factory=...)``, until ``record`` collects it."""

    __slots__ = ("init", "make")

    def __init__(self, make: Any, init: bool) -> None:
        self.make, self.init = make, init


def field(*, default_factory: Any, init: bool = True) -> Any:
    """A field whose default is made afresh for each record (as ``dataclasses.field``);
    ``init=False``: internal state, not a constructor argument, neither compared nor written."""
    return _Factory(default_factory, init)


if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Any:
        return lambda decorator: decorator


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
def record(cls: type[_T]) -> type[_T]:
    """``cls`` as a slotted class whose fields are its annotations (``ClassVar`` excepted),
    after those of its base."""
    spec: list[tuple[str, Any, bool, bool]] = list(getattr(cls, "_SPEC", ()))
    namespace = dict(cls.__dict__)
    own: list[str] = []
    for name, kind in namespace.pop("__annotations__", {}).items():
        if str(kind).startswith("ClassVar"):
            continue
        value = namespace.pop(name, _MISSING)
        if isinstance(value, _Factory):
            spec.append((name, value.make, True, value.init))
        else:
            spec.append((name, value, False, True))
        own.append(name)
    for name in ("__dict__", "__weakref__"):
        namespace.pop(name, None)
    namespace["__slots__"] = tuple(own)
    namespace["_SPEC"] = tuple(spec)
    written = tuple(n for n, _, _, init in spec if init and n != "extra")
    namespace["FIELDS"] = written
    namespace["_VALUES"] = _getter(written)
    return cast("type[_T]", type(cls.__name__, cls.__bases__, namespace))


def _getter(names: tuple[str, ...]) -> Any:
    """The values of the attributes ``names`` of an object, as a tuple, in one call."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


class Struct:
    """What every record class shares: keyword construction, equality and repr by field."""

    __slots__ = ()
    #: ``(name, default or factory, whether it is a factory, whether it is an argument)`` of
    #: each field, in order.
    _SPEC: ClassVar[tuple[tuple[str, Any, bool, bool], ...]] = ()
    #: The names of the fields written to the file (``extra`` and internal ones excepted), in
    #: order: the model's field names.
    FIELDS: ClassVar[tuple[str, ...]] = ()
    #: The values of ``FIELDS``, as a tuple (an ``attrgetter``: one call).
    _VALUES: ClassVar[Any] = _getter(())

    def __init__(self, **values: Any) -> None:
        for name, default, factory, init in self._SPEC:
            if init and name in values:
                value = values.pop(name)
            elif factory:
                value = default()
            elif default is _MISSING:
                raise TypeError(f"{type(self).__name__}() needs {name!r}")
            else:
                value = default
            setattr(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__}() got unknown fields {sorted(values)}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            getattr(self, name) == getattr(other, name) for name, _, _, init in self._SPEC if init
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, like a model

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({shown})"


def timestamp(text: str) -> datetime:
    """A timestamp of a checked document: exactly as ``iso()`` writes it (the fast check and
    the model's dump both guarantee that form), so slicing is enough."""
    return datetime(
        int(text[0:4]),
        int(text[5:7]),
        int(text[8:10]),
        int(text[11:13]),
        int(text[14:16]),
        int(text[17:19]),
        tzinfo=timezone.utc,
    )


def floats(value: dict[str, Any]) -> dict[str, float]:
    return {key: float(item) for key, item in value.items()}


def _plain(value: Any) -> Any:
    """A value of a ``DECODE`` field as JSON: records, timestamps and enums converted."""
    if isinstance(value, Record):
        return value.document()
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    if type(value) is list:
        return [item.document() if isinstance(item, Record) else item for item in value]
    return value


@record
class Record(Struct):
    """A JSON object of the format: its fields (those of its model), then unknown keys."""

    #: Keys the model does not know (a plugin's, a newer minor version's), kept in order and
    #: written back after the fields, as pydantic's ``extra="allow"`` does.
    extra: dict[str, Any] = field(default_factory=dict)

    #: How a document's value becomes a field's, for the fields that are not JSON as they are
    #: (timestamps, enums, floats written as integers, nested records); the other fields hold
    #: JSON values, written as they are.
    DECODE: ClassVar[dict[str, Convert]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The record as its JSON document (what ``Model.model_dump(mode="json")`` gives): a
        copy, which the caller may change without changing the record."""
        return copy.deepcopy(self.document())

    def document(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """The JSON document for encoding: its lists and dicts are the record's own."""
        doc = dict(zip(self.FIELDS, self._VALUES(self), strict=True))
        for name in self.DECODE:
            value = doc[name]
            if value is not None:
                doc[name] = _plain(value)
        for name in exclude:
            del doc[name]
        doc.update(self.extra)
        return doc

    @classmethod
    def from_doc(cls: type[_R], doc: dict[str, Any]) -> _R:
        """The record of a checked document (``reading.py``); takes ownership of ``doc``."""
        known, decode = cls.FIELDS, cls.DECODE
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in doc.items():
            if key not in known:
                extra[key] = value
            elif value is not None and key in decode:
                values[key] = decode[key](value)
            else:
                values[key] = value
        return cls(**values, extra=extra)


# -- encoding -----------------------------------------------------------------------------


def pretty(doc: dict[str, Any]) -> bytes:
    """``json.dumps(doc, indent=2)`` (pydantic's ``model_dump_json(indent=2)``) and a newline.

    The standard library indents in Python, value by value: three times slower than this for a
    state file, whose top-level values are nearly all scalars. They are written here, and only
    a non-empty list or dict is left to ``json.dumps`` (its lines indented one level more: JSON
    text has no other line break).
    """
    lines = []
    for key, value in doc.items():
        kind = type(value)
        if type(key) is not str:
            return (dumps(doc, indent=2) + "\n").encode()
        if kind is str:
            text = _string(value)
        elif kind is int:
            text = int.__repr__(value)
        elif value is None or kind is bool:
            text = _CONSTANTS[value]
        elif kind is float and math.isfinite(value):
            text = float.__repr__(value)
        elif (kind is dict or kind is list) and not value:
            text = "{}" if kind is dict else "[]"
        else:
            text = dumps(value, indent=2).replace("\n", "\n  ")
        lines.append(f"  {_string(key)}: {text}")
    if not lines:
        return b"{}\n"
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


#: JSON's constants, by the Python value.
_CONSTANTS = {None: "null", True: "true", False: "false"}


def dumps(value: Any, **options: Any) -> str:
    """JSON text; a non-finite float is written ``null``, as pydantic writes it (JSON has no
    other way to say it)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, **options)


def _finite(value: Any) -> Any:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is dict:
        return {k: _finite(v) for k, v in value.items()}
    if type(value) is list:
        return [_finite(v) for v in value]
    return value


class Appended:
    """The JSON of a list (or dict) that usually only grows at its end between two calls:
    only the new items are encoded; any other change encodes it again from scratch."""

    __slots__ = ("_body", "_keys", "_values")

    def __init__(self) -> None:
        self._keys: list[Any] = []
        self._values: list[Any] = []
        self._body = b""

    def encode(self, value: list[Any] | dict[str, Any]) -> bytes:
        is_dict = isinstance(value, dict)
        # Keys and values as two lists: cheaper to build and compare than item tuples.
        keys = list(value) if is_dict else []
        values = list(value.values()) if is_dict else list(value)  # type: ignore[union-attr]
        known = len(self._values)
        if (
            len(values) < known
            or values[:known] != self._values
            or keys[:known] != self._keys[:known]
        ):
            known, self._keys, self._values, self._body = 0, [], [], b""
        if len(values) > known:
            new: Any = values[known:]
            if is_dict:
                new = dict(zip(keys[known:], new, strict=True))
            tail = dumps(new, separators=(",", ":")).encode()[1:-1]
            self._body = self._body + b"," + tail if self._body else tail
            self._keys, self._values = keys, values
        return (b"{" + self._body + b"}") if is_dict else (b"[" + self._body + b"]")
