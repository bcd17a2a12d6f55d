"""``wheelscan report``: compliance statistics over the store, in several formats."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from wheelscan.cli import options
from wheelscan.report import aggregate, render_html, render_json, render_markdown, render_terminal
from wheelscan.store import Store, StoreError

FORMATS = ("terminal", "json", "markdown", "html", "jsonl.zst")


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser("report", help="compliance statistics over the store")
    options.add_db_option(p)
    p.add_argument("--format", choices=FORMATS, default="terminal")
    p.add_argument(
        "--output", "-o", type=Path, help="write here instead of stdout (required for jsonl.zst)"
    )
    p.add_argument("--run", type=int, help="only the wheels of this run")
    p.add_argument("--top", type=int, default=20, help="length of ranked lists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(
            f"wheelscan report: no store at {args.db} (run `wheelscan audit` first)",
            file=sys.stderr,
        )
        return 2
    try:
        with Store.open(args.db) as store:
            if args.format == "jsonl.zst":
                if args.output is None:
                    print("wheelscan report: --format jsonl.zst needs --output", file=sys.stderr)
                    return 2
                count = store.export_jsonl_zst(args.output, run_id=args.run)
                print(f"{count} results written to {args.output}")
                return 0
            stats = aggregate(
                store.iter_rows(run_id=args.run), [r.to_json() for r in store.runs()], top=args.top
            )
    except StoreError as e:
        print(f"wheelscan report: {e}", file=sys.stderr)
        return 2
    if args.format == "terminal":
        if args.output is None:
            render_terminal(stats, Console())
        else:
            with open(args.output, "w", encoding="utf-8") as out:
                render_terminal(stats, Console(file=out, width=120))
        return 0
    render = {"json": render_json, "markdown": render_markdown, "html": render_html}
    text = render[args.format](stats)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
