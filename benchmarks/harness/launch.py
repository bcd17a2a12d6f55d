"""Run one command and report its wall time and peak RSS: ``launch.py REPORT CMD...``.

Why a launcher: Linux carries a process's RSS high-water mark across ``exec`` into the
program it runs (``ru_maxrss`` covers the old image too), and a child spawned straight from
the harness starts as a copy of the harness, which holds hundreds of MB by the end of a run.
Spawned from this small process instead, the child's ``ru_maxrss`` is its own (this
launcher's ~10 MB floor is below any process measured). The timing is taken here too, so it
excludes the launcher's own start-up. Standard library only: it runs with ``python -I -S``.
"""

import json
import os
import sys
import time


def main() -> int:
    report, command = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    with open(report, "w") as f:
        json.dump(
            {
                "seconds": seconds,
                "max_rss": usage.ru_maxrss * 1024,
                "returncode": os.waitstatus_to_exitcode(status),
            },
            f,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
