# The collector off from the start, as ``entry`` keeps it while the command line is parsed:
# the command's imports (argparse, pathlib, typing, this package's modules) make objects
# that live as long as the process; it walked them 22 times, 7.8M instructions of a
# one-wheel ``show`` (issue #15), before ``entry`` could turn it off
import gc

gc.disable()

import sys  # noqa: E402

try:
    if sys.argv[1:2] == ["show"]:
        # a plain ``show`` command line taken, and its first wheel's reading begun, before
        # the command line's parser is even imported (show_start.py)
        from wheelscan.cli import show_start

        show_start.begin(sys.argv[1:])

    from wheelscan.cli.main import entry
except KeyboardInterrupt:  # Ctrl-C during the imports: stopped (130), nothing to say
    raise SystemExit(130) from None

entry()
