"""Enums made by enum's own fast path, as the standard library makes its own.

``EnumType`` checks and sets up each member of an enum's class statement through Python:
wheelscan's enums (the error codes, the ELF facts', the policies' and the verdicts', 141
members) were 6M instructions of a one-wheel ``show``'s start-up made so (~310M as a whole
process; issue #15), the error codes alone 3.2M of every command's. ``enum._simple_enum``
makes the same enum from a plain class body, as ``re``, ``http`` and ``signal`` make theirs,
in half of that. An enum says so::

    @fast_enum(IntEnum)
    class Machine(IntEnumBody):
        ...

Type checkers see an enum's class statement (``IntEnumBody`` is ``IntEnum`` to them,
``fast_enum`` the identity); at run time the body is a plain class, made the enum by
``fast_enum``. tests/test_errors.py holds such enums equal to their twins made by EnumType.
Imports nothing of wheelscan: errors.py, at the bottom of the house, uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, IntEnum, StrEnum
from typing import TYPE_CHECKING, TypeVar

__all__ = ["EnumBody", "IntEnumBody", "StrEnumBody", "fast_enum"]

if TYPE_CHECKING:
    EnumBody = Enum
    IntEnumBody = IntEnum
    StrEnumBody = StrEnum

    T = TypeVar("T")

    def fast_enum(kind: type[Enum]) -> Callable[[T], T]:
        return lambda body: body

else:
    from enum import _simple_enum as fast_enum

    EnumBody = IntEnumBody = StrEnumBody = object
