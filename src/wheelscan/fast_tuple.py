"""NamedTuples made as ``collections.namedtuple`` makes them, without typing's checks.

``typing.NamedTuple`` checks each field's annotation, and under ``from __future__ import
annotations`` every annotation is a string, which it compiles into a ``ForwardRef``: 1.8M
instructions a class of four fields, where ``collections.namedtuple``, which makes the class
in the end, takes 0.4M. The nine a one-wheel ``wheelscan show`` imports (the ELF facts'
symbols, the zip members, the ends' records, the policies' tags) were 13M instructions of it
(issue #15), seven of them before the first wheel's reading could begin. A NamedTuple says
so::

    @fast_tuple
    class Member(TupleBody):
        name: str
        size: int = 0

Type checkers see a NamedTuple's class statement (``TupleBody`` is ``typing.NamedTuple`` to
them, ``fast_tuple`` the identity); at run time the body is a plain class, made a namedtuple
by ``fast_tuple`` as typing makes it: the same fields and defaults, its methods, properties
and docstring, ``__annotations__`` as written. tests/test_fast_tuple.py holds such classes
equal to their twins made by typing.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

__all__ = ["TupleBody", "fast_tuple"]

T = TypeVar("T")

if TYPE_CHECKING:
    from typing import NamedTuple as TupleBody

    def fast_tuple(body: T) -> T:
        return body

else:

    class TupleBody:
        """A NamedTuple's class statement, made a namedtuple by ``fast_tuple``."""

    def fast_tuple(body: type) -> Any:
        return _made(body)


# (called through a name: type checkers read a call of ``namedtuple`` itself as a class
# statement, which wants literal names)
_namedtuple: Callable[..., Any] = collections.namedtuple

# What a class statement's namespace holds that is not the NamedTuple's to copy: the body
# class's own (``__dict__``, ``__weakref__``), and what the namedtuple has of its own
_NOT_COPIED = frozenset({"__dict__", "__weakref__", "__module__", "__annotations__"})
# What a NamedTuple's class statement may not define (typing's ``_prohibited``): the
# namedtuple's own machinery
_PROHIBITED = frozenset(
    {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
     "_make", "_replace", "_asdict", "_source"}
)  # fmt: skip


def _made(body: type) -> Any:
    """The namedtuple ``typing.NamedTuple`` makes of ``body``'s class statement
    (``NamedTupleMeta.__new__``), its annotations left as written."""
    namespace = body.__dict__
    # in the namespace up to Python 3.13; made on first use from 3.14 (PEP 649)
    annotations: dict[str, Any] = namespace.get("__annotations__") or body.__annotations__
    fields = list(annotations)
    if not fields:  # never meant: a class whose fields were not found would hold nothing
        raise TypeError(f"{body.__name__}: no annotated field")
    overridden = sorted(_PROHIBITED & namespace.keys())
    if overridden:
        raise AttributeError(
            f"{body.__name__}: cannot overwrite NamedTuple attribute {overridden[0]}"
        )
    defaults = [namespace[name] for name in fields if name in namespace]
    if any(name not in namespace for name in fields[len(fields) - len(defaults) :]):
        raise TypeError(f"{body.__name__}: a field without a default follows one with")
    made = _namedtuple(body.__name__, fields, defaults=defaults, module=body.__module__)
    made.__annotations__ = made.__new__.__annotations__ = dict(annotations)
    made.__qualname__ = body.__qualname__
    for key, value in namespace.items():
        if key in _NOT_COPIED or key in fields or (key == "__doc__" and value is None):
            continue
        setattr(made, key, value)
    return made
