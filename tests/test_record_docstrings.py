"""The records ``show`` imports carry docstrings of their own: dataclasses writes a missing
one from ``inspect.signature`` when the class is made, at import (issue #15, start-up)."""

from __future__ import annotations

import subprocess
import sys

_UNDOCUMENTED = """
import dataclasses, importlib, sys
for name in ("wheelscan.cli.show", "wheelscan.engine.worker", "wheelscan.cli.verdict_text"):
    importlib.import_module(name)
made = [
    cls
    for module_name, module in list(sys.modules.items())
    if module_name.startswith("wheelscan.") and module is not None
    for cls in vars(module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module_name
]
assert len(made) > 10, made
print([c.__qualname__ for c in made if (c.__doc__ or "").startswith(c.__name__ + "(")])
"""


def test_records_a_show_imports_have_docstrings_of_their_own() -> None:
    # dataclasses writes a missing one from inspect.signature at import: 0.1 ms a class
    run = subprocess.run(
        [sys.executable, "-c", _UNDOCUMENTED], capture_output=True, text=True, check=True
    )
    assert run.stdout == "[]\n"
