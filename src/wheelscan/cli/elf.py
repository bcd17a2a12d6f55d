"""``wheelscan elf FILE...``: the facts of bare ELF files."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import errno
import json
import mmap
import os
import shlex
import stat
from pathlib import Path
from typing import Any

from wheelscan.cli.commands import SUMMARIES
from wheelscan.cli.text import output_width, printable_lines, wrap
from wheelscan.cli.usage import path_argument
from wheelscan.elf import ElfError, ElfFacts, names, parse_elf
from wheelscan.policy.versions import sort_versions

DESCRIPTION = """\
Print what wheelscan reads from bare ELF files (not wheels), as the dynamic loader sees
them through the program headers: type, machine, the libraries needed and where they are
searched, the stack, the dynamic symbols and the symbol versions needed from each library.
Exit status: 0 when every file was read, 2 when one could not be."""


# 2: each file's facts carry ``named``, their numbers in words as the text says them
JSON_VERSION = 2


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser(
        "elf",
        help=SUMMARIES["elf"],
        description=DESCRIPTION,
        epilog="exit status:\n  0  every file was read\n  2  some file could not be read "
        "(missing, not ELF, malformed: its error is printed in its place)",
    )
    p.add_argument(
        "files", nargs="+", type=path_argument, metavar="FILE", help="ELF files (.so, executables)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON document with every fact, every symbol included (default: text)",
    )
    p.set_defaults(func=run)


def facts_to_json(facts: ElfFacts) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, enum.Enum):
            return value.name
        if isinstance(value, tuple) and hasattr(value, "_asdict"):
            return {k: plain(v) for k, v in value._asdict().items()}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    data = {f.name: plain(getattr(facts, f.name)) for f in dataclasses.fields(facts)}
    data["executable_stack"] = facts.executable_stack
    data["named"] = named(facts)
    return data


def named(facts: ElfFacts) -> dict[str, Any]:
    """The numbers of the facts in words, as the text says them: the facts keep the numbers
    (what the file holds), this the names (what they mean), for a reader of the JSON."""
    return {
        "elf_type": names.elf_type(facts),
        "osabi": names.osabi(facts.osabi),
        "machine_flags": names.machine_flags(facts) or None,
        "dynamic_flags": names.dynamic_flags(facts),
        "stack": names.stack(facts),
        "x86_isa_needed": (
            names.x86_isa_levels(facts.x86_isa_needed) if facts.x86_isa_needed else []
        ),
    }


def read(path: Path) -> ElfFacts:
    # opened without blocking, and refused unless a regular file: a FIFO's open waited for
    # a writer, and ``wheelscan elf FIFO`` never ended
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if f.seek(0, 2) == 0:
            raise ElfError("not-elf", "empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[:4] == b"PK\x03\x04":
                raise ElfError(
                    "not-elf",
                    f"a zip archive (a wheel?), not ELF: `wheelscan show {shlex.quote(str(path))}`",
                )
            return parse_elf(data)


def run(args: argparse.Namespace) -> int:
    read_files: list[tuple[Path, ElfFacts | ElfError | OSError]] = []
    for path in args.files:
        try:
            read_files.append((path, read(path)))
        except (ElfError, OSError) as e:
            read_files.append((path, e))
    status = 2 if any(not isinstance(r, ElfFacts) for _, r in read_files) else 0
    if args.json:
        results = [_json_item(path, r) for path, r in read_files]
        print(json.dumps({"version": JSON_VERSION, "results": results}, indent=2))
        return status
    width = output_width()
    blocks = []
    for path, r in read_files:
        if isinstance(r, ElfFacts):
            lines = [str(path), *describe(r, width)]
        else:
            reason = str(r)
            if isinstance(r, OSError):  # the code the JSON gives it (``_json_item``)
                reason = f"io-error: {r.strerror or r}"
            lines = [str(path), *wrap(f"error: {reason}", 2, 4, width)]
        # names from the file (DT_NEEDED, RUNPATH, SONAME): no control character printed
        blocks.append("\n".join(printable_lines(lines)))
    print("\n".join(blocks))
    return status


def _json_item(path: Path, result: ElfFacts | ElfError | OSError) -> dict[str, Any]:
    if isinstance(result, ElfFacts):
        return {"file": str(path), "facts": facts_to_json(result)}
    code = result.code if isinstance(result, ElfError) else "io-error"
    return {"file": str(path), "error": {"code": code, "reason": str(result)}}


def describe(facts: ElfFacts, width: int) -> list[str]:
    """The facts in words, every number named, wrapped between words to ``width``."""
    lines: list[str] = []

    def say(text: str) -> None:
        lines.extend(wrap(text, 2, 4, width))

    say(names.elf_type(facts))
    described = names.machine_flags(facts)
    say(
        f"{facts.machine.name} {facts.elf_class.name} {facts.endianness.name.lower()}-endian, "
        f"OS/ABI {names.osabi(facts.osabi)}, flags 0x{facts.flags:x}"
        + (f" ({described})" if described else "")
    )
    if facts.interpreter is not None:
        say(f"interpreter: {facts.interpreter}")
    if not facts.has_dynamic:
        say("no dynamic section (PT_DYNAMIC): statically linked")
    for label, value in (
        ("soname", facts.soname),
        ("needed", facts.needed),
        ("rpath", facts.rpath),
        ("runpath", facts.runpath),
    ):
        if value:
            say(f"{label}: {value if isinstance(value, str) else ', '.join(value)}")
    flags = names.dynamic_flags(facts)
    if flags:
        say(f"dynamic flags: {', '.join(flags)}")
    say(f"stack: {names.stack(facts)}")
    if facts.x86_isa_needed:
        say(f"x86 ISA needed: {', '.join(names.x86_isa_levels(facts.x86_isa_needed))}")
    say(f"{facts.symbol_count} dynamic symbols, {len(facts.undefined_symbols)} undefined")
    for need in facts.version_needs:
        say(f"needs from {need.file}: {', '.join(sort_versions(need.versions))}")
    if facts.version_definitions:
        say(f"defines versions: {', '.join(sort_versions(facts.version_definitions))}")
    return lines
