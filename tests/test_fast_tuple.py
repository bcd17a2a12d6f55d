"""A NamedTuple made by ``fast_tuple`` is the class typing.NamedTuple makes of the same
class statement (wheelscan/fast_tuple.py): the same fields, defaults, methods, docstring,
text, pickling; and a statement typing refuses is refused."""

from __future__ import annotations

import pickle
from typing import NamedTuple

import pytest

from wheelscan.fast_tuple import TupleBody, fast_tuple


@fast_tuple
class Fast(TupleBody):
    """A record of three fields."""

    name: str
    sizes: list[tuple[int, int]]
    known: bytearray | None = None
    count: int = 0

    @property
    def end(self) -> int:
        return self.count + len(self.sizes)

    def named(self) -> str:
        return self.name.upper()


class Typed(NamedTuple):
    """A record of three fields."""

    name: str
    sizes: list[tuple[int, int]]
    known: bytearray | None = None
    count: int = 0

    @property
    def end(self) -> int:
        return self.count + len(self.sizes)

    def named(self) -> str:
        return self.name.upper()


@fast_tuple
class Undocumented(TupleBody):
    a: int


class UndocumentedTyped(NamedTuple):
    a: int


def test_it_is_the_namedtuple_typing_makes() -> None:
    fast, typed = Fast("a", [(1, 2)], count=3), Typed("a", [(1, 2)], count=3)
    assert fast == typed and tuple(fast) == ("a", [(1, 2)], None, 3)
    assert Fast._fields == Typed._fields
    assert Fast._field_defaults == Typed._field_defaults
    assert list(Fast.__annotations__) == list(Typed.__annotations__)
    assert (Fast.__doc__, Fast.__module__) == (Typed.__doc__, Typed.__module__)
    assert (Fast.__name__, Fast.__qualname__) == ("Fast", "Fast")
    assert Fast.__bases__ == Typed.__bases__ == (tuple,)
    assert repr(fast) == repr(typed).replace("Typed", "Fast")
    assert fast._replace(count=4).end == typed._replace(count=4).end == 5
    assert fast.named() == "A" and fast._asdict() == typed._asdict()
    assert not hasattr(fast, "__dict__")  # slots, as a namedtuple's
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert type(pickle.loads(pickle.dumps(fast))) is Fast
    assert Undocumented.__doc__ == UndocumentedTyped.__doc__.replace("Typed", "")  # type: ignore[union-attr]


def test_a_field_without_a_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError):

        class Typed(NamedTuple):
            a: int = 0
            b: int

    with pytest.raises(TypeError):

        @fast_tuple
        class Fast(TupleBody):
            a: int = 0
            b: int


def test_a_class_statement_typing_would_refuse_is_refused() -> None:
    """Without a field (a class whose annotations were not found: PEP 649 moves them out of
    the namespace), or redefining the namedtuple's own machinery (typing refuses it too)."""

    class Empty(TupleBody):
        pass

    with pytest.raises(TypeError, match="no annotated field"):
        fast_tuple(Empty)

    class Replacing(TupleBody):
        x: int

        def _replace(self, **changes: object) -> Replacing:  # pragma: no cover
            raise NotImplementedError

    with pytest.raises(AttributeError, match="_replace"):
        fast_tuple(Replacing)
