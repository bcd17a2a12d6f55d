"""``fast_json`` reads what ``json.loads`` reads and writes what ``json.dumps(value,
indent=2)`` writes, whatever the text or value, errors included: the policies are read with
it, ``show --json`` prints with it (issue #15), and neither imports json."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wheelscan.fast_json import dumps, loads

from property_budget import examples


class Kind(StrEnum):
    SYMBOL = "symbol-version"
    LIBRARY = "library"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(list(Kind))
    | st.sampled_from(list(Level))
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=6)
        | st.lists(children, max_size=6).map(tuple)
        | st.lists(st.text(max_size=8), max_size=6)  # the fast path: a list of names
        | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=examples(300), deadline=None)
@given(VALUES)
def test_it_writes_what_json_writes(value: Any) -> None:
    assert dumps(value) == json.dumps(value, indent=2)


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        (),
        {"a": {}, "b": [], "c": [[], {}]},
        {"é": "ü\u2028\x00", "tab\t": ["\ud800"]},
        [math.nan, math.inf, -math.inf, -0.0, 1e300, 5e-324],
        {1: "a", 2.5: "b", False: "c", None: "d"},  # keys json turns into text
        [True, False, None, 0, Level.HIGH, Kind.LIBRARY],
    ],
)
def test_the_cases_json_treats_apart(value: Any) -> None:
    assert dumps(value) == json.dumps(value, indent=2)


def test_what_json_refuses_it_refuses_alike() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    for value in (cycle, {"a": {1, 2}}, [object()], {("a", "b"): 1}):
        with pytest.raises((ValueError, TypeError)) as expected:
            json.dumps(value, indent=2)
        with pytest.raises(type(expected.value), match=str(expected.value)):
            dumps(value)


@settings(max_examples=examples(300), deadline=None)
@given(VALUES, st.sampled_from(["", " ", "\n", "\t\r\n "]), st.booleans())
def test_it_reads_what_json_reads(value: Any, space: str, indented: bool) -> None:
    text = space + json.dumps(value, indent=2 if indented else None) + space
    read, expected = loads(text), json.loads(text)
    # (NaN is not equal to itself: compared as text)
    assert json.dumps(read) == json.dumps(expected)
    assert type(read) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "[1, 2",
        "[1, 2] x",
        "\ufeff[]",
        "{'a': 1}",
        '"\x01"',
        "[1,]",
        "NaNa",
        "01",
        "\x0b[]",
    ],
)
def test_what_json_refuses_to_read_it_refuses_alike(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError, match=re.escape(str(expected.value))):
        loads(text)


def test_reading_imports_no_json() -> None:
    probe = (
        "import sys\n"
        "from wheelscan.fast_json import dumps, loads\n"
        "assert loads(' {\"a\": [1, 2.5, null, \"x\"]} ') == {'a': [1, 2.5, None, 'x']}\n"
        "assert dumps({'a': [1]}) == '{\\n  \"a\": [\\n    1\\n  ]\\n}'\n"
        "print('json' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout == "False\n"
