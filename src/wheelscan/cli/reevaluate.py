"""``wheelscan reevaluate``: judge every stored wheel again, from stored facts alone."""

from __future__ import annotations

import argparse
from typing import Any

from wheelscan.cli import options
from wheelscan.policy.policies import PolicyFileError, load_policies
from wheelscan.store import Store, StoreError, policy_digest


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser(
        "reevaluate",
        help="re-judge the store against the current (or a given) policy without reading any wheel",
    )
    options.add_db_option(p)
    options.add_policy_options(p)
    p.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        database = load_policies(args.policy_file)
        with Store.open(args.db) as store:
            judged = store.reevaluate(
                database,
                policy_digest(args.policy_file, args.musl_policy),
                workers=args.workers,
                musl_policy=args.musl_policy,
            )
    except (StoreError, PolicyFileError) as e:
        print(f"wheelscan reevaluate: {e}")
        return 2
    print(f"{judged} wheels judged against {args.policy_file or 'the built-in policies'}")
    return 0
