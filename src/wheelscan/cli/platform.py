"""``wheelscan platform``: the installer's side of the audit.

Which manylinux / musllinux platform tags this machine accepts, as pip decides it through
``packaging.tags``: the running libc and its version, the interpreter's architecture, and the
``_manylinux`` module override of PEP 600 (``manylinux_compatible(major, minor, arch)``, or
the legacy ``manylinux1_compatible`` / ``manylinux2010_compatible`` /
``manylinux2014_compatible`` attributes of PEP 513 / 571 / 599). The tags are listed in
packaging's order of preference: the newest libc first, the most compatible tag last.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict, dataclass

from packaging import _manylinux, _musllinux, tags

from wheelscan.cli.commands import SUMMARIES
from wheelscan.policy.policies import Libc

JSON_VERSION = 1


@dataclass(frozen=True)
class HostPlatform:
    libc: Libc | None  # None: neither glibc nor musl (or not Linux)
    libc_version: str | None  # "2.36"
    architecture: str  # the interpreter's, as in its linux_<arch> tag: armv8l on 32-bit aarch64
    platform_tags: tuple[str, ...]  # manylinux/musllinux only, most compatible last


def detect_host() -> HostPlatform:
    """What this interpreter on this machine accepts, as pip would decide it."""
    all_tags = list(tags.platform_tags())
    linux_tags = [tag for tag in all_tags if tag.startswith("linux_")]
    # packaging's first linux_<arch> tag is the interpreter's own (32-bit on 64-bit included)
    architecture = linux_tags[0].removeprefix("linux_") if linux_tags else platform.machine()
    musl = _musllinux._get_musl_version(sys.executable)
    glibc = _manylinux._get_glibc_version()  # (-1, -1) when not glibc
    if musl is not None:
        libc, version = Libc.MUSL, f"{musl.major}.{musl.minor}"
    elif glibc.major >= 0:
        libc, version = Libc.GLIBC, f"{glibc.major}.{glibc.minor}"
    else:
        libc, version = None, None
    prefixes = (Libc.GLIBC.tag_prefix, Libc.MUSL.tag_prefix)
    wanted = tuple(tag for tag in all_tags if tag.startswith(prefixes))
    return HostPlatform(libc, version, architecture, wanted)


def run(args: argparse.Namespace) -> int:
    host = detect_host()
    if args.json:
        json.dump({"version": JSON_VERSION, **asdict(host)}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    libc = f"{host.libc} {host.libc_version}" if host.libc else "neither glibc nor musl"
    print(f"libc:          {libc}")
    print(f"architecture:  {host.architecture}")
    if not host.platform_tags:
        print("platform tags: none (this machine installs no manylinux/musllinux wheel)")
        return 0
    print(f"platform tags: {len(host.platform_tags)}, preferred first, most compatible last")
    for tag in host.platform_tags:
        print(f"  {tag}")
    return 0


def configure_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``platform`` sub-command; its ``func`` is :func:`run`."""
    parser = subparsers.add_parser(
        "platform",
        help=SUMMARIES["platform"],
        description="List the manylinux/musllinux platform tags this machine accepts, as pip"
        " decides it (packaging.tags, honouring a _manylinux module), most compatible last.",
        epilog="exit status:\n  0  the tags were listed\n  2  a bad option",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    parser.set_defaults(func=run)
    return parser
