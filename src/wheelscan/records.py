"""Frozen records whose comparison, hash and repr are shared, not compiled for each class.

``@dataclass(frozen=True)`` writes six methods of each class as source text and compiles
them, an ``exec`` each in Python 3.11: the records a one-wheel ``wheelscan show`` imports
took 59M of its 490M instructions so (issue #15: one wheel, as a whole process). ``record``
is that decorator with three of them (``__repr__``, ``__eq__``, ``__hash__``) the functions
below, the same for every class, each doing what dataclasses' would from the class's
fields (their ``compare``, ``hash`` and ``repr`` options): 27M fewer. The rest is
dataclasses' own: ``__init__`` and the frozen ``__setattr__`` (sharing those would make
every record's construction a Python call per field), ``fields``, ``asdict``, ``replace``,
slots, pickling."""

from __future__ import annotations

import operator
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, cast, dataclass_transform, overload

T = TypeVar("T", bound=type)


@overload
def record(cls: T, /) -> T: ...
@overload
def record(*, slots: bool = False, eq: bool = True) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: T | None = None, /, *, slots: bool = False, eq: bool = True) -> Any:
    """``@dataclass(frozen=True, slots=slots, eq=eq)``, its repr, eq and hash shared."""

    def wrap(cls: T) -> T:
        made: Any = dataclass(cls, frozen=True, repr=False, eq=False, slots=slots)
        return _share(cast(T, made), eq)

    return wrap if cls is None else wrap(cls)


def _share(cls: T, eq: bool) -> T:
    every = fields(cls)
    # what dataclasses' generated methods read, in field order: the compared fields, the
    # hashed ones (a field's ``hash`` option, else its ``compare``), the shown ones
    cls._record_shown = tuple(f.name for f in every if f.repr)  # type: ignore[attr-defined]
    own = cls.__dict__
    if "__repr__" not in own:  # a class's own, as dataclasses leaves it
        cls.__repr__ = _repr  # type: ignore[assignment]
    if not eq:
        return cls
    # static: a function stored on the class would be bound, given the record twice
    compared = staticmethod(_getter([f.name for f in every if f.compare]))
    hashed = staticmethod(
        _getter([f.name for f in every if (f.compare if f.hash is None else f.hash)])
    )
    cls._record_compared, cls._record_hashed = compared, hashed  # type: ignore[attr-defined]
    if "__eq__" not in own:
        cls.__eq__ = _eq  # type: ignore[assignment]
    # dataclasses' rule: a class that writes __eq__ alone gets __hash__ = None from Python,
    # which is not a hash it wrote, so the fields' hash is added all the same
    if "__hash__" not in own or (own["__hash__"] is None and "__eq__" in own):
        cls.__hash__ = _hash  # type: ignore[assignment]
    return cls


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A function of a record: the tuple of these fields' values."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        name = names[0]
        return lambda self: (getattr(self, name),)
    return lambda self: ()


@reprlib.recursive_repr()  # a record that holds itself: "...", as dataclasses show it
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_shown)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        compared = self._record_compared
        return bool(compared(self) == compared(other))
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self._record_hashed(self))
