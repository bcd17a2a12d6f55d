"""Frozen records whose comparison, hash and repr are shared, not compiled for each class.

``@dataclass(frozen=True)`` writes six methods of each class as source text and compiles
them, an ``exec`` each in Python 3.11: the records a one-wheel ``wheelscan show`` imports
took 59M of its 490M instructions so (issue #15: one wheel, as a whole process). ``record``
is that decorator with three of them (``__repr__``, ``__eq__``, ``__hash__``) the functions
below, the same for every class, each doing what dataclasses' would from the class's
fields (their ``compare``, ``hash`` and ``repr`` options): 27M fewer. The rest is
dataclasses' own: ``__init__`` and the frozen ``__setattr__`` (sharing those would make
every record's construction a Python call per field), ``fields``, ``asdict``, ``replace``,
slots, pickling.

Of those, the frozen ``__setattr__`` and ``__delattr__`` are shared too: dataclasses compiles
each from source for every class (two ``exec`` of the three a record took, 1.45M of its 2.4M
instructions; 29M of the 311M of a one-wheel ``show``'s main thread, onnxruntime). The class
is made by ``dataclass`` with neither ``__init__`` nor freezing, then given an ``__init__``
compiled here as dataclasses writes it (assignments through ``object.__setattr__``), the
shared pair that refuses assignment as the compiled pair does, and, with slots, the pickling
state methods dataclasses adds to a frozen class. A record over another dataclass, or with
fields this ``__init__`` does not write (``InitVar``, keyword-only), is left to dataclasses
whole.

Nor is that ``__init__`` compiled from source any more: one ``exec`` a record was 3.5 ms of a
one-wheel ``show``'s start-up (its 20 records; 14M instructions). Every record's is one code
object, ``_init_template``'s, given the record's parameters (``_make_init``), and a filler
made for the class sets the fields from them: a record costs about 1 us more to make (22
fields), a show makes a few hundred."""

from __future__ import annotations

import builtins
import operator
import reprlib
import sys
import types
from collections.abc import Callable
from typing import Any, TypeVar, cast, dataclass_transform, overload


class _DeferredInspect(types.ModuleType):
    """Stands in for ``inspect`` in dataclasses (``_import_dataclasses``): the real module
    is imported when the stand-in is first used, and used from then on."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get("inspect") is self:  # used while dataclasses is being imported
            del sys.modules["inspect"]
        import inspect

        return getattr(inspect, name)


def _import_dataclasses() -> None:
    """dataclasses, with its ``inspect`` deferred. It imports inspect, which imports ast,
    dis, tokenize and linecache, for one use: writing a docstring from the signature of a
    class that has none, which every record a ``show`` makes has (test_record_docstrings.py).
    Imported with it, they were 41M instructions of a one-wheel ``show``'s start-up, more
    than the interpreter's own 38M (issue #15: one wheel as a whole process), before the
    first wheel's reading could begin. So dataclasses gets a stand-in that imports inspect
    where it is first used; everyone else imports the real one."""
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        return
    stand_in = _DeferredInspect("inspect")
    sys.modules["inspect"] = stand_in
    try:
        import dataclasses  # noqa: F401 (imported for the names below)
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]


_import_dataclasses()

from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field, fields  # noqa: E402

T = TypeVar("T", bound=type)


@overload
def record(cls: T, /) -> T: ...
@overload
def record(*, slots: bool = False, eq: bool = True) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: T | None = None, /, *, slots: bool = False, eq: bool = True) -> Any:
    """``@dataclass(frozen=True, slots=slots, eq=eq)``, its repr, eq and hash shared."""

    def wrap(cls: T) -> T:
        if not _initialised_here(cls):
            made: Any = dataclass(cls, frozen=True, repr=False, eq=False, slots=slots)
            return _share(cast(T, made), eq)
        documented = bool(cls.__dict__.get("__doc__"))
        made = dataclass(cls, init=False, repr=False, eq=False, slots=slots)
        frozen = _freeze(cast(T, made), slots)
        if not documented:  # written by dataclasses from the signature, as it has none yet
            import inspect

            signature = str(inspect.signature(frozen)).replace(" -> None", "")
            frozen.__doc__ = frozen.__name__ + signature
        return _share(frozen, eq)

    return wrap if cls is None else wrap(cls)


def _initialised_here(cls: type) -> bool:
    """Whether ``_freeze`` writes what ``dataclass(frozen=True)`` would for ``cls``: no
    dataclass among its bases (dataclasses checks that frozen and not are not mixed, and
    inherits fields), no ``InitVar`` or keyword-only field, its own ``__setattr__`` and
    ``__delattr__`` not written (dataclasses refuses to replace them)."""
    if any(hasattr(base, "__dataclass_fields__") for base in cls.__mro__[1:]):
        return False
    own = cls.__dict__
    if "__setattr__" in own or "__delattr__" in own or "__init__" in own:
        return False
    annotations = own.get("__annotations__", {})
    return not any(
        "InitVar" in str(kind) or "KW_ONLY" in str(kind) or _keyword_only(own.get(name))
        for name, kind in annotations.items()
    )


def _keyword_only(default: object) -> bool:
    return isinstance(default, Field) and default.kw_only is True


class _Factory:
    """The default of a parameter whose field has a ``default_factory``, as dataclasses
    shows it (``inspect.signature``)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _freeze(cls: T, slots: bool) -> T:
    """``cls`` (made by ``dataclass`` without ``__init__`` or freezing) as
    ``dataclass(frozen=True)`` would have made it: its ``__init__``, assignment refused,
    pickled by its fields where it has slots, and its parameters saying it is frozen."""
    every = fields(cls)
    init = _make_init(cls, every, slots)
    # as dataclasses' parameters are annotated, for its signature
    init.__annotations__ = {f.name: f.type for f in every if f.init} | {"return": None}
    made: Any = cls  # its methods replaced: typed as any class
    made.__init__ = init
    made._record_owner = cls
    made._record_fields = frozenset(f.name for f in every)
    made.__setattr__, made.__delattr__ = _frozen_setattr, _frozen_delattr
    if slots:  # a frozen class's own, as dataclasses adds them (its __setattr__ refuses)
        if "__getstate__" not in cls.__dict__:  # unless the class wrote its own
            made.__getstate__ = _getstate
        if "__setstate__" not in cls.__dict__:
            made.__setstate__ = _setstate
    params = made.__dataclass_params__
    params.init = params.frozen = True
    return cls


def _init_template(__record_self__: Any) -> None:
    # Every record's ``__init__`` is this code, its parameters renamed and counted anew
    # (``_make_init``): they are its locals, which the class's filler sets as fields. Both
    # are found on the class, no name in the module's globals: a module's own ``locals``
    # would be this code's (it runs in the record's module), and a closure's cell would
    # move with the parameters renamed here (so the code has no local of its own either)
    __record_self__.__class__._record_fill(
        __record_self__, __record_self__.__class__._record_locals()
    )


def _make_init(cls: type, every: tuple[Any, ...], slots: bool) -> Callable[..., None]:
    """The ``__init__`` dataclasses writes for a frozen class (its ``_init_fn``): each field
    given, its default, or its factory's value set through ``object.__setattr__``, then
    ``__post_init__``. Not compiled (module docstring): ``_init_template``'s code with the
    record's parameters, the same signature as dataclasses' (names, defaults, a factory's
    sentinel), and the class's filler (``_filler``), which sets the fields from them. As
    dataclasses' does, it lives in the class's module (its annotations resolve there:
    ``get_type_hints``); what its code looks up is found on the record's class, never a
    field's name nor the module's globals (``_init_template``)."""
    parameters: list[str] = []
    defaults: list[Any] = []
    for f in every:
        if not f.init:
            continue
        if f.default_factory is not MISSING:
            defaults.append(_FACTORY)
        elif f.default is not MISSING:
            defaults.append(f.default)
        elif defaults:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        parameters.append(f.name)
    code = _init_template.__code__.replace(
        co_argcount=1 + len(parameters),
        co_nlocals=1 + len(parameters),
        co_varnames=("__record_self__", *parameters),
        co_name="__init__",
        co_qualname=f"{cls.__qualname__}.__init__",
    )
    module = sys.modules.get(cls.__module__)
    namespace = module.__dict__ if module is not None else {}
    init = types.FunctionType(code, namespace, "__init__", tuple(defaults) or None)
    filler = _filler(every, slots, hasattr(cls, "__post_init__"))
    cls._record_fill = staticmethod(filler)  # type: ignore[attr-defined]
    # the builtin: called from the ``__init__`` frame, it returns that frame's locals
    cls._record_locals = staticmethod(builtins.locals)  # type: ignore[attr-defined]
    return init


def _filler(
    every: tuple[Any, ...], slots: bool, post_init: bool
) -> Callable[[Any, dict[str, Any]], None]:
    """What a record's ``__init__`` does with its parameters (``values``), as dataclasses'
    compiled one: each field in order set to its parameter, or to its factory's value where
    the parameter is the factory's sentinel; a field that is no parameter to its factory's
    value, or (with slots, where no class attribute holds it) its default."""
    setting = object.__setattr__
    given = tuple(f.name for f in every if f.init and f.default_factory is MISSING)
    if not post_init and len(given) == len(every):  # most records: each field as given

        def fill_given(record: Any, values: dict[str, Any]) -> None:
            for name in given:
                setting(record, name, values[name])

        return fill_given
    steps: list[tuple[str, Any, Any]] = []  # (name, parameter or None, factory or value)
    for f in every:
        if f.default_factory is not MISSING:
            steps.append((f.name, f.name if f.init else None, f.default_factory))
        elif f.init:
            steps.append((f.name, f.name, None))
        elif slots and f.default is not MISSING:
            steps.append((f.name, None, lambda value=f.default: value))

    def fill(record: Any, values: dict[str, Any]) -> None:
        for name, parameter, factory in steps:
            if parameter is None:
                value = factory()
            else:
                value = values[parameter]
                if factory is not None and value is _FACTORY:
                    value = factory()
            setting(record, name, value)
        if post_init:
            record.__post_init__()

    return fill


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    # as dataclasses' compiled one, ``cls`` being the record that holds it
    owner = self._record_owner
    if type(self) is owner or name in owner._record_fields:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    super(owner, self).__setattr__(name, value)


def _frozen_delattr(self: Any, name: str) -> None:
    owner = self._record_owner
    if type(self) is owner or name in owner._record_fields:
        raise FrozenInstanceError(f"cannot delete field {name!r}")
    super(owner, self).__delattr__(name)


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(fields(self), state, strict=False):
        object.__setattr__(self, f.name, value)


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
