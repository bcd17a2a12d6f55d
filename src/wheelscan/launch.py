"""The process's entry point, the same for the ``wheelscan`` script (pyproject.toml's
``[project.scripts]``) and ``python -m wheelscan`` (``__main__.py``).

A Ctrl-C while the command line's modules are imported, or in the few lines of ``entry``
before it has made SIGINT's default action the one in force (cli/main.py), ends the process
stopped, 130, with nothing to say: raised as Python raises it, it was a traceback. The
script ran ``from wheelscan.cli.main import entry`` unguarded, so only ``python -m`` was
spared one.
"""

import gc
import sys


def entry() -> None:
    # The collector off from the start, as ``entry`` keeps it while the command line is
    # parsed: the command's imports (argparse, pathlib, typing, this package's modules) make
    # objects that live as long as the process; it walked them 22 times, 7.8M instructions
    # of a one-wheel ``show`` (issue #15), before ``entry`` could turn it off
    gc.disable()
    try:
        if sys.argv[1:2] == ["show"]:
            # a plain ``show`` command line taken, and its first wheel's reading begun,
            # before the command line's parser is even imported (show_start.py)
            from wheelscan.cli import show_start

            show_start.begin(sys.argv[1:])

        from wheelscan.cli.main import entry as run_command_line

        run_command_line()
    except KeyboardInterrupt as e:  # ``run`` returns a status for one that comes later
        from wheelscan.cli.interrupt import exit_status

        raise SystemExit(exit_status(e)) from None
