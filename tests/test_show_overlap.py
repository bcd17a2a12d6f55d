"""``show`` reads a wheel on another thread while the main one imports and judges: with a
short GIL switch interval for that overlap only (cli/show.py), given back afterwards, also
when the command ends in an error, so a process that calls ``main`` again is left as it was."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wheelscan.cli import show
from wheelscan.cli.main import main

from elfwriter import build_elf, sample_spec
from wheelbuilder import build_wheel


def test_show_gives_the_switch_interval_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = tmp_path / "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    wheel.write_bytes(build_wheel({"mod.so": build_elf(sample_spec("x86_64", interpreter=None))}))
    before = sys.getswitchinterval()
    seen: list[float] = []
    judge = show.judge

    def noting(*args: object, **kwargs: object) -> object:
        seen.append(sys.getswitchinterval())
        return judge(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(show, "judge", noting)
    assert main(["show", str(wheel), str(wheel)]) == 0
    assert seen == [show.OVERLAP_SWITCH_INTERVAL] * 2
    assert sys.getswitchinterval() == before

    def failing(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(show, "judge", failing)
    with pytest.raises(RuntimeError):
        main(["show", str(wheel)])
    assert sys.getswitchinterval() == before
    capsys.readouterr()


def test_overlapping_runs_give_the_interval_back_once_the_last_ends() -> None:
    # two runs of show in one process, the second starting while the first reads: the
    # second must not take the first's shortened interval for the one to give back
    before = sys.getswitchinterval()
    with show._SHORT_SWITCH_INTERVAL:  # the first run, still reading
        with show._SHORT_SWITCH_INTERVAL:  # the second
            assert sys.getswitchinterval() == show.OVERLAP_SWITCH_INTERVAL
        assert sys.getswitchinterval() == show.OVERLAP_SWITCH_INTERVAL  # the first reads on
    assert sys.getswitchinterval() == before
