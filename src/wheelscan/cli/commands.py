"""Each command, in the order ``wheelscan --help`` lists them, and its line there.

Apart from the command modules, so that ``wheelscan --help`` lists every command without
importing one (each pulls in its whole stack: the store, the engine, the renderers).
"""

from __future__ import annotations

SUMMARIES = {
    "show": "judge wheels and explain the verdict",
    "audit": "audit every Linux wheel of a directory, mirror or index",
    "report": "compliance statistics over the store",
    "reevaluate": "re-judge the store against the current (or a given) policy without reading "
    "any wheel",
    "package": "audit all Linux wheels of one project",
    "elf": "print the facts of ELF files",
    "platform": "list the manylinux/musllinux platform tags this machine accepts",
}
