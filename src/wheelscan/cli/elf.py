"""``wheelscan elf FILE...``: the facts of bare ELF files."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import mmap
from pathlib import Path
from typing import Any

from wheelscan.elf import ElfError, ElfFacts, parse_elf


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser("elf", help="print the facts of ELF files")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
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
    return data


def read(path: Path) -> ElfFacts:
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            raise ElfError("not-elf", "empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return parse_elf(data)


def run(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    status = 0
    for path in args.files:
        try:
            results.append({"file": str(path), "facts": facts_to_json(read(path))})
        except (ElfError, OSError) as e:
            status = 2
            code = e.code if isinstance(e, ElfError) else "io-error"
            results.append({"file": str(path), "error": {"code": code, "reason": str(e)}})
    if args.json:
        print(json.dumps({"version": 1, "results": results}, indent=2))
        return status
    for item in results:
        print(item["file"])
        if "error" in item:
            print(f"  error: {item['error']['reason']}")
            continue
        f = item["facts"]
        print(
            f"  {f['machine']} {f['elf_class']} {f['endianness'].lower()}-endian, "
            f"flags 0x{f['flags']:x}, type {f['elf_type']}"
        )
        for key in ("interpreter", "soname", "needed", "rpath", "runpath"):
            if f[key]:
                print(f"  {key}: {f[key] if isinstance(f[key], str) else ', '.join(f[key])}")
        print(
            f"  executable stack: {'yes' if f['executable_stack'] else 'no'}"
            + (f", x86 ISA needed 0x{f['x86_isa_needed']:x}" if f["x86_isa_needed"] else "")
        )
        print(f"  {f['symbol_count']} dynamic symbols, {len(f['undefined_symbols'])} undefined")
        for need in f["version_needs"]:
            print(f"  needs from {need['file']}: {', '.join(need['versions'])}")
    return status
