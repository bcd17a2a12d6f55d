#!/usr/bin/env python3
"""Fuzz the zip reader and everything an audit does with a wheel's bytes.

For every input: ``audit`` returns a Verdict or an AuditError (never raises); the archive
API itself raises WheelError and nothing else, whatever member is read, within small limits
so that no input costs more than a few megabytes.

    python fuzz/make_seeds.py /tmp/seeds
    python fuzz/fuzz_wheel.py /tmp/corpus-wheel /tmp/seeds/wheel -max_total_time=3600
"""

from __future__ import annotations

from collections.abc import Callable

from _common import fuzz

NAME = "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def setup() -> Callable[[bytes], None]:
    from wheelscan.engine.worker import audit
    from wheelscan.policy.verdict import AuditError, Verdict
    from wheelscan.wheel.archive import Limits, WheelArchive, WheelError
    from wheelscan.wheel.contents import read_wheel_facts

    limits = Limits(max_member_size=8 << 20, max_compression_ratio=1000)

    def test(data: bytes) -> None:
        assert isinstance(audit(data, NAME, limits=limits), Verdict | AuditError)
        try:
            with WheelArchive(data, limits) as archive:
                for member in archive.members[:64]:
                    try:
                        archive.head(member, 8)
                        archive.read(member)
                    except WheelError:
                        pass
                read_wheel_facts(archive, NAME)
        except WheelError:
            pass

    return test


if __name__ == "__main__":
    fuzz(setup)
