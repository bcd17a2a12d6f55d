"""``record`` (wheelscan/records.py) against the ``@dataclass(frozen=True)`` it stands in for:
twins of one class, one made each way, must compare, hash, show, refuse assignment, copy,
pickle and convert alike."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import typing
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from wheelscan import records
from wheelscan.model import ElfMember, WheelFacts
from wheelscan.policy.policies import Policy, PolicySet, load_policies
from wheelscan.policy.verdict import Blocker, BlockerKind, Verdict
from wheelscan.records import record


class Body:
    """One class body, decorated both ways below."""

    name: str
    count: int
    tags: tuple[str, ...] = ()
    table: dict[str, int] = field(default_factory=dict, hash=False)
    hidden: str = field(default="h", repr=False)
    ignored: int = field(default=0, compare=False)


def twins(**options: Any) -> tuple[type, type]:
    def make(decorate: Any) -> type:
        namespace = {k: v for k, v in vars(Body).items() if k not in ("__dict__", "__weakref__")}
        cls = type("Twin", (), {**namespace, "__qualname__": "Twin"})
        return decorate(cls)  # type: ignore[no-any-return]

    return make(dataclass(frozen=True, **options)), make(record(**options))


@pytest.mark.parametrize("slots", [False, True])
def test_a_record_behaves_as_its_frozen_dataclass_twin(slots: bool) -> None:
    classic, ours = twins(slots=slots)
    values = [
        ("a", 1, ("x",), {"k": 1}, "s", 5),
        ("a", 1, ("x",), {"k": 1}, "s", 6),  # equal: "ignored" is not compared
        ("a", 1, ("x",), {"k": 2}, "s", 5),
        ("a", 1, ("x",), {"k": 1}, "t", 5),  # not shown, still compared
        ("b", 1, ("x",), {"k": 1}, "s", 5),
    ]
    for args in values:
        for other in values:
            expected = classic(*args) == classic(*other)
            assert (ours(*args) == ours(*other)) == expected
        assert repr(ours(*args)) == repr(classic(*args))
        assert hash(ours(*args)) == hash(classic(*args))
    # the dict is left out of the hash (hash=False), "ignored" too (compare=False)
    assert len({hash(ours(*args)) for args in values[:3]}) == 1
    assert ours("a", 1) != classic("a", 1)  # another class: not equal, as dataclasses has it
    assert ours("a", 1).__eq__(3) is NotImplemented
    one = ours("a", 1, ("x",))
    with pytest.raises(FrozenInstanceError):
        one.name = "b"
    with pytest.raises(FrozenInstanceError):
        del one.count
    for copied in (copy.copy(one), copy.deepcopy(one), dataclasses.replace(one)):
        assert copied == one and copied is not one
    assert dataclasses.asdict(one) == dataclasses.asdict(classic("a", 1, ("x",)))
    assert [f.name for f in dataclasses.fields(ours)] == [
        f.name for f in dataclasses.fields(classic)
    ]
    assert ("__slots__" in vars(ours)) is slots


@pytest.mark.parametrize("slots", [False, True])
def test_a_records_init_takes_what_its_twins_does(slots: bool) -> None:
    # its __init__ is compiled by records.py, not dataclasses: the same parameters and
    # defaults (a factory's value made afresh each time), the same signature and docstring
    import inspect

    classic, ours = twins(slots=slots)
    # (a factory's default is each module's own sentinel: equal as shown)
    assert str(inspect.signature(ours)) == str(inspect.signature(classic))
    assert ours.__doc__ == classic.__doc__
    made: Any = ours
    assert made.__init__.__qualname__ == "Twin.__init__"
    assert made.__match_args__ == classic.__match_args__  # type: ignore[attr-defined]
    first, second = ours("a", 1), ours(name="a", count=1, hidden="k")
    assert first.table == {} and first.table is not second.table
    assert (first.tags, first.hidden, second.hidden, first.ignored) == ((), "h", "k", 0)
    with pytest.raises(TypeError):
        ours("a")
    with pytest.raises(TypeError):
        ours("a", 1, bogus=2)
    assert dataclasses.fields(ours)[0].name == "name"
    assert ours.__dataclass_params__.frozen  # type: ignore[attr-defined]


class Checked:
    """A record whose ``__post_init__`` sees every field set, and sets one of its own."""

    x: int
    doubled: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "doubled", 2 * self.x)


@pytest.mark.parametrize("slots", [False, True])
def test_a_records_post_init_and_init_less_fields_are_as_its_twins(slots: bool) -> None:
    def make(decorate: Any) -> Any:
        namespace = {k: v for k, v in vars(Checked).items() if k not in ("__dict__", "__weakref__")}
        return decorate(type("Checked", (), namespace))

    classic, ours = make(dataclass(frozen=True, slots=slots)), make(record(slots=slots))
    assert ours(3).doubled == classic(3).doubled == 6
    assert inspect_signature(ours) == inspect_signature(classic)
    copied = copy.copy(ours(4))
    assert copied.doubled == 8


def inspect_signature(cls: type) -> str:
    import inspect

    return str(inspect.signature(cls))


class Derived:
    """A record over another: left to dataclasses whole, which checks the base is frozen."""

    y: int = 0


def test_a_record_over_a_dataclass_is_still_checked_as_dataclasses_checks_it() -> None:
    base: Any = dataclass(frozen=True)(type("Base", (), {"__annotations__": {"x": "int"}}))
    derived = record(type("Derived", (base,), dict(vars(Derived))))
    assert derived(1, 2).y == 2
    with pytest.raises(FrozenInstanceError):
        derived(1).x = 3
    unfrozen: Any = dataclass(type("Loose", (), {"__annotations__": {"x": "int"}}))
    with pytest.raises(TypeError, match="frozen"):
        record(type("Mixed", (unfrozen,), {"__annotations__": {"y": "int"}}))


def test_without_eq_a_record_is_equal_to_itself_only() -> None:
    classic, ours = twins(eq=False)
    assert ours("a", 1) != ours("a", 1)
    one = ours("a", 1)
    assert one.__eq__(one) and hash(one) == object.__hash__(one)
    assert repr(one) == repr(classic("a", 1))


def test_wheelscan_records_pickle_compare_and_hash() -> None:
    blocker = Blocker(BlockerKind.SYMBOL_VERSION, "GLIBC_2.28", ("lib.so",), ("fcntl64",))
    assert pickle.loads(pickle.dumps(blocker)) == blocker
    assert hash(pickle.loads(pickle.dumps(blocker))) == hash(blocker)
    assert repr(blocker) == (
        "Blocker(kind=<BlockerKind.SYMBOL_VERSION: 'symbol-version'>, subject='GLIBC_2.28', "
        "files=('lib.so',), symbols=('fcntl64',))"
    )
    facts = WheelFacts("w-1-py3-none-any.whl", ())
    assert pickle.loads(pickle.dumps(facts)) == facts
    assert isinstance(ElfMember.__slots__, tuple)
    verdict = Verdict("w", "glibc", "x86_64", "t", {}, {}, (), (), (), (), ())
    assert pickle.loads(pickle.dumps(verdict)) == verdict
    with pytest.raises(FrozenInstanceError):
        verdict.wheel = "v"  # type: ignore[misc]
    # symbol_versions and blacklist are left out of a policy's hash (field(hash=False))
    policies: PolicySet = next(iter(load_policies().sets.values()))
    policy = policies.highest
    assert isinstance(policy, Policy)
    assert hash(policy) == hash(dataclasses.replace(policy, symbol_versions={}, blacklist={}))
    assert policy != dataclasses.replace(policy, symbol_versions={})
    assert policies.__eq__(policies) and policies != copy.copy(policies)  # eq=False


@pytest.mark.parametrize(
    "module",
    [
        "wheelscan.model",
        "wheelscan.elf.facts",
        "wheelscan.policy.verdict",
        "wheelscan.policy.policies",
        "wheelscan.policy.resolve",
        "wheelscan.policy.abi3",
        "wheelscan.wheel.archive",
        "wheelscan.wheel.identity",
        "wheelscan.wheel.ends",
    ],
)
def test_the_records_a_show_imports_are_records(module: str) -> None:
    # each frozen dataclass compiled six methods at every start (issue #15)
    classes = [c for c in vars(importlib.import_module(module)).values() if isinstance(c, type)]
    frozen = [c for c in classes if c.__module__ == module and dataclasses.is_dataclass(c)]
    assert frozen
    assert all(c.__repr__ is records._repr for c in frozen), frozen


def test_a_verdicts_json_is_what_asdict_makes_of_it() -> None:
    from wheelscan.policy.verdict import AuditError, PolicyCheck, TagClaim, plain

    blocker = Blocker(BlockerKind.SYMBOL_VERSION, "GLIBC_2.28", ("lib.so",), ("fcntl64",))
    verdict = Verdict(
        "w",
        "glibc",
        "x86_64",
        "t",
        {"isa": "t"},
        {"libc.so.6": ("GLIBC_2.28",)},
        ("libz.so.1",),
        (PolicyCheck("p", (blocker,)),),
        (TagClaim("t", True),),
        (),
        ("lib.so",),
        newest_versions=(blocker,),
    )
    for value in (verdict, AuditError("w", "not-found", "gone", "m"), blocker):
        made = plain(value)
        assert made == dataclasses.asdict(value)
        assert [type(v) for v in made.values()] == [
            type(v) for v in dataclasses.asdict(value).values()
        ]
    # copies: the record's own dict is not handed out
    assert plain(verdict)["criteria"] is not verdict.criteria


class One:
    x: int


class OnlyOneCompared:
    x: int
    y: int = field(default=0, compare=False)


class Empty:
    pass


class OwnEq:  # noqa: PLW1641 (what the test is about)
    """Its own ``__eq__`` (so Python sets ``__hash__ = None`` in its body): dataclass still
    adds the fields' hash, as no ``__hash__`` was written."""

    x: int

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self.x == other.x  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", [One, OnlyOneCompared, Empty, OwnEq])
@pytest.mark.parametrize("slots", [False, True])
def test_records_of_any_shape_compare_and_hash_as_their_twins(body: type, slots: bool) -> None:
    def make(decorate: Any) -> Any:
        namespace = {k: v for k, v in vars(body).items() if k not in ("__dict__", "__weakref__")}
        return decorate(type(body.__name__, (), namespace))

    classic, ours = make(dataclass(frozen=True, slots=slots)), make(record(slots=slots))
    arguments = [()] if body is Empty else [(1,), (2,)]
    for args in arguments:
        for other in arguments:
            assert (ours(*args) == ours(*other)) == (classic(*args) == classic(*other))
        assert hash(ours(*args)) == hash(classic(*args))
        assert repr(ours(*args)) == repr(classic(*args))
    assert ours.__doc__ == classic.__doc__  # written from the signature where there is none


def test_a_record_that_holds_itself_is_shown_as_a_dataclass_is() -> None:
    @record
    class Node:
        children: list[Any]

    @dataclass(frozen=True)
    class Twin:
        children: list[Any]

    ours, classic = Node([]), Twin([])
    ours.children.append(ours)
    classic.children.append(classic)
    assert repr(ours) == repr(classic).replace("Twin", "Node")


@pytest.mark.parametrize("cls", [Verdict, Blocker, WheelFacts, ElfMember])
def test_a_records_init_resolves_its_annotations_in_its_module(cls: type) -> None:
    # as dataclasses compiles it: in the class's module (string annotations name its types)
    hints = typing.get_type_hints(cls.__init__)
    assert set(hints) == {f.name for f in dataclasses.fields(cls) if f.init} | {"return"}
    assert cls.__init__.__module__ == cls.__module__


def _odd() -> type:
    class Odd:
        self: int
        _set: int = 2
        _FACTORY: int = 3
        _default_0: int = 4
        items: list[int] = field(default_factory=list)

    return Odd


@pytest.mark.parametrize("slots", [False, True])
def test_field_names_the_compiled_init_might_use_are_fields_as_any(slots: bool) -> None:
    made = dataclass(frozen=True, slots=slots)(_odd())
    ours = record(slots=slots)(_odd())
    assert dataclasses.astuple(ours(1)) == dataclasses.astuple(made(1)) == (1, 2, 3, 4, [])
    assert ours(self=5, items=[6]).items == [6]


@record(slots=True)
class Scaled:
    """A slotted record with its own unpickling."""

    x: int

    def __setstate__(self, state: list[int]) -> None:
        object.__setattr__(self, "x", state[0] * 10)


def test_a_slotted_records_own_pickling_state_is_kept() -> None:
    assert pickle.loads(pickle.dumps(Scaled(1))).x == 10


def test_a_field_named_as_what_the_init_looks_up_is_a_field_as_any() -> None:
    # every record's __init__ is one code object, which looks ``locals`` up (records.py)
    def body() -> type:
        class Shadowing:
            locals: int
            record: int = 2

        return Shadowing

    made = dataclass(frozen=True)(body())
    ours = record(body())
    assert dataclasses.astuple(ours(1)) == dataclasses.astuple(made(1)) == (1, 2)
    assert ours(locals=3).locals == 3


def test_making_a_record_compiles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # an exec of its __init__'s source was 3.5 ms of a one-wheel show's start-up (issue #15):
    # neither records.py nor the dataclasses it calls may compile one
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled")

    for module in (records, dataclasses):
        monkeypatch.setattr(module, "exec", refused, raising=False)
        monkeypatch.setattr(module, "compile", refused, raising=False)
    for slots in (False, True):
        for body in (Body, Checked):
            namespace = {
                k: v for k, v in vars(body).items() if k not in ("__dict__", "__weakref__")
            }
            made: Any = record(slots=slots)(type(body.__name__, (), namespace))
            assert made(*(("a", 1) if body is Body else (2,))) is not None


def test_a_module_s_own_locals_and_a_field_named_like_the_init_s_names_do_not_matter(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the shared __init__ runs in the record's module: a global named ``locals`` there once
    # became its ``locals()``, and every record of that module failed to be made (KeyError)
    (tmp_path / "module_with_locals.py").write_text(
        "from wheelscan.records import record\n"
        "def locals():\n"
        "    return {}\n"
        "@record\n"
        "class Shadowed:\n"
        "    a: int\n"
        "    owner: str = 'o'\n"
        "    _record_fill: int = 0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("module_with_locals")
    made = module.Shadowed(1, "x", 2)
    assert (made.a, made.owner, made._record_fill) == (1, "x", 2)
    assert module.Shadowed(3) == module.Shadowed(3, "o", 0)
