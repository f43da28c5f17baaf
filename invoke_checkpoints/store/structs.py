"""Record classes without dataclasses' start-up cost, the format's JSON objects among them.

A dataclass costs 0.4-1 ms to create (it compiles its methods with ``exec``): a few ms of every
run's start-up for the format's records (``records.py``) and the types a run and its plugins
share (``RunInfo``, ``StepInfo``, ``RunOptions``...). :func:`record` makes the same classes
from closures, compiling nothing; type checkers read them as dataclasses
(``dataclass_transform``), and :func:`replace` is their ``dataclasses.replace``. :class:`Record`
is a JSON object of the format: its fields, then the unknown keys it was read with (pydantic's
``extra="allow"``). Standard library only.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from enum import Enum
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast, overload

from .vocabulary import iso

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Record", "Struct", "field", "floats", "record", "replace", "timestamp"]

_T = TypeVar("_T")
_R = TypeVar("_R", bound="Record")
#: A function of one JSON value (typed loosely: the tables mix classes and functions).
Convert = Any

_MISSING: Any = object()
#: A field as ``record`` keeps it: name, default (or factory), whether the default is a
#: factory, whether it is a constructor argument, whether the repr shows it.
_Spec = tuple[str, Any, bool, bool, bool]


class _Field:
    """A field's ``field(...)``, until ``record`` collects it."""

    __slots__ = ("default", "factory", "init", "repr")

    def __init__(self, default: Any, factory: Any, init: bool, shown: bool) -> None:
        self.default, self.factory, self.init, self.repr = default, factory, init, shown


def field(
    *,
    default: Any = _MISSING,
    default_factory: Any = _MISSING,
    init: bool = True,
    repr: bool = True,  # dataclasses.field's name, which type checkers know
) -> Any:
    """As ``dataclasses.field``: ``default_factory`` makes the default afresh for each object;
    ``init=False``: internal state, not a constructor argument, neither compared nor written;
    ``repr=False``: left out of the repr."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("field() takes a default or a default_factory, not both")
    return _Field(default, default_factory, init, repr)


if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Any:
        return lambda decorator: decorator


@overload
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(
    *, kw_only: bool = True, frozen: bool = False, eq: bool = True, slots: bool = True
) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
def record(
    cls: type[_T] | None = None,
    /,
    *,
    kw_only: bool = True,
    frozen: bool = False,
    eq: bool = True,
    slots: bool = True,
) -> Any:
    """``cls`` as a record class whose fields are its annotations (``ClassVar`` excepted), after
    those of its base: what ``dataclasses.dataclass`` makes, with the same options.

    ``kw_only=False``: arguments by position too, in field order. ``frozen``: assigning or
    deleting an attribute raises ``dataclasses.FrozenInstanceError``; with ``eq``, hashable by
    the fields' values. ``eq=False``: identity equality and hash. ``slots=False``: the
    instances keep a ``__dict__``, where others may set their own attributes. Methods the class
    defines itself are kept.
    """

    def make(cls: type[_T]) -> type[_T]:
        return _make(cls, kw_only=kw_only, frozen=frozen, eq=eq, slots=slots)

    return make if cls is None else make(cls)


def _make(cls: type[_T], *, kw_only: bool, frozen: bool, eq: bool, slots: bool) -> type[_T]:
    spec, defaults = _fields(cls)
    written = tuple(n for n, _, _, init, _ in spec if init and n != "extra")
    arguments = tuple(n for n, _, _, init, _ in spec if init)
    methods: dict[str, Any] = {
        "__init__": _initializer(
            cls.__name__, spec, () if kw_only else arguments, frozen=frozen, slots=slots
        ),
        "__repr__": _representation(tuple(n for n, _, _, init, shown in spec if init and shown)),
        "__match_args__": () if kw_only else arguments,
        "__replace__": replace,
    }
    if eq:
        methods["__eq__"] = _equality(_getter(arguments))
    if frozen:
        methods["__setattr__"], methods["__delattr__"] = _refuse_assignment, _refuse_deletion
        if slots:  # copy and pickle restore a slotted object by setattr, which is refused
            methods["__getstate__"], methods["__setstate__"] = _getstate, _setstate
    namespace = {name: m for name, m in methods.items() if name not in cls.__dict__}
    if eq and cls.__dict__.get("__hash__") is None:  # mutable: unhashable, as a dataclass
        namespace["__hash__"] = _hashing(_getter(arguments)) if frozen else None
    namespace.update(_SPEC=tuple(spec), FIELDS=written, _VALUES=_getter(written))
    if slots:
        namespace = {**cls.__dict__, **namespace, "__slots__": tuple(defaults)}
        for name in (*defaults, "__dict__", "__weakref__"):
            namespace.pop(name, None)
        return cast("type[_T]", type(cls.__name__, cls.__bases__, namespace))
    for name, value in defaults.items():
        if value is not _MISSING:
            setattr(cls, name, value)  # a plain default stays a class attribute
        elif name in cls.__dict__:
            delattr(cls, name)
    for name, value in namespace.items():
        setattr(cls, name, value)
    return cls


def _fields(cls: type[Any]) -> tuple[list[_Spec], dict[str, Any]]:
    """The fields of ``cls``, its base's first; and the plain default of each of its own
    (``_MISSING``: none, or made by a factory)."""
    spec: list[_Spec] = list(getattr(cls, "_SPEC", ()))
    defaults: dict[str, Any] = {}
    # Its own annotations only (inspect.get_annotations would import inspect).
    for name, kind in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        if str(kind).startswith("ClassVar"):
            continue
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            made = value.factory is not _MISSING
            default = value.factory if made else value.default
            spec.append((name, default, made, value.init, value.repr))
            value = _MISSING if made else value.default
        else:
            spec.append((name, value, False, True, True))
        defaults[name] = value
    return spec, defaults


def _getter(names: tuple[str, ...]) -> Any:
    """The values of the attributes ``names`` of an object, as a tuple, in one call (never a
    method: a class attribute called as ``self._VALUES(self)``)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return staticmethod(lambda obj: (one(obj),))
    return staticmethod(lambda obj: ())


def _initializer(
    cls_name: str, spec: list[_Spec], positional: tuple[str, ...], *, frozen: bool, slots: bool
) -> Any:
    """The ``__init__`` of a record class: arguments ``positional`` by position or keyword, the
    other fields by keyword. Slotted instances get a field at a time; the others their whole
    ``__dict__`` at once (which also bypasses a frozen class's ``__setattr__``)."""
    arguments = frozenset(n for n, _, _, init, _ in spec if init)
    # An ``init=False`` field without a default stays unset, as in a dataclass.
    kept = [(n, d, made, init) for n, d, made, init, _ in spec if init or made or d is not _MISSING]
    count = len(positional)

    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise the ``TypeError`` of a call with too many, repeated or unknown arguments."""
        if len(args) > count:
            raise TypeError(
                f"{cls_name}() takes {count} positional arguments but {len(args)} were given"
            )
        for name in positional[: len(args)]:
            if name in kwargs:
                raise TypeError(f"{cls_name}() got multiple values for argument {name!r}")
        for name in kwargs:
            if name not in arguments:
                raise TypeError(f"{cls_name}() got an unexpected keyword argument {name!r}")

    def wrong(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Whether the call has too many, repeated or unknown arguments (cheap when it has not)."""
        if len(args) > count:
            return True
        if kwargs:
            if not arguments.issuperset(kwargs):
                return True
            return bool(args) and not kwargs.keys().isdisjoint(positional[: len(args)])
        return False

    def missing(name: str) -> TypeError:
        return TypeError(f"{cls_name}() missing required argument: {name!r}")

    if slots:
        put = object.__setattr__ if frozen else setattr

        def slotted(self: Any, *args: Any, **kwargs: Any) -> None:
            if wrong(args, kwargs):
                check(args, kwargs)
            if args:
                kwargs.update(zip(positional, args, strict=False))  # the first ones
            for name, default, made, init in kept:
                if init and name in kwargs:
                    put(self, name, kwargs[name])
                elif made:
                    put(self, name, default())
                elif default is _MISSING:
                    raise missing(name)
                else:
                    put(self, name, default)

        return slotted

    # The values before the arguments, in field order: _MISSING where a factory or an argument
    # must give one.
    template = {n: _MISSING if made else d for n, d, made, _ in kept}
    factories = tuple((n, d) for n, d, made, _ in kept if made)
    required = tuple(n for n, d, made, init in kept if init and not made and d is _MISSING)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if wrong(args, kwargs):
            check(args, kwargs)
        values = template.copy()
        values.update(zip(positional, args, strict=False))  # the first ones
        values.update(kwargs)
        for name, make in factories:
            if values[name] is _MISSING:
                values[name] = make()
        for name in required:
            if values[name] is _MISSING:
                raise missing(name)
        self.__dict__.update(values)

    return __init__


def _representation(shown: tuple[str, ...]) -> Any:
    def __repr__(self: Any) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{type(self).__name__}({fields})"

    return __repr__


def _equality(values: Any) -> Any:
    """Equal to an object of the same class whose fields are equal (as a dataclass compares)."""

    def __eq__(self: Any, other: object) -> Any:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    return __eq__


def _hashing(values: Any) -> Any:
    def __hash__(self: Any) -> int:
        return hash(values(self))

    return __hash__


def _refuse_assignment(self: Any, name: str, value: Any) -> None:
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_deletion(self: Any, name: str) -> None:
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, spec[0]) for spec in self._SPEC]


def _setstate(self: Any, state: list[Any]) -> None:
    for spec, value in zip(self._SPEC, state, strict=True):
        object.__setattr__(self, spec[0], value)


def replace(obj: _T, /, **changes: Any) -> _T:
    """A new record of ``obj``'s class, with ``changes`` and ``obj``'s other field values (as
    ``dataclasses.replace``: the ``init=False`` fields start afresh)."""
    spec = getattr(type(obj), "_SPEC", None)
    if spec is None:
        raise TypeError(f"replace() takes a record, not {type(obj).__name__!r}")
    for name, _, _, init, _ in spec:
        if not init:
            if name in changes:
                raise ValueError(f"{name!r} is not an argument of {type(obj).__name__}()")
        elif name not in changes:
            changes[name] = getattr(obj, name)
    return type(obj)(**changes)


class Struct:
    """What every record class has: its fields as ``record`` found them."""

    __slots__ = ()
    #: ``(name, default or factory, whether it is a factory, whether it is an argument,
    #: whether the repr shows it)`` of each field, in order.
    _SPEC: ClassVar[tuple[_Spec, ...]] = ()
    #: The names of the fields written to the file (``extra`` and internal ones excepted), in
    #: order: the model's field names.
    FIELDS: ClassVar[tuple[str, ...]] = ()
    #: The values of ``FIELDS``, as a tuple (an ``attrgetter``: one call).
    _VALUES: ClassVar[Any] = _getter(())


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
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

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
