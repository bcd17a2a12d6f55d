"""``wheelscan reevaluate``: judge every stored wheel again, from stored facts alone."""

from __future__ import annotations

import argparse
from typing import Any

from wheelscan.cli import options
from wheelscan.cli.commands import SUMMARIES
from wheelscan.cli.usage import count, existing_store, warn
from wheelscan.policy.policies import load_policies
from wheelscan.store import Store, policy_digest, policy_source


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser(
        "reevaluate",
        help=SUMMARIES["reevaluate"],
        description="Judge every wheel of the store again, from its stored facts, against the "
        "built-in policies or --policy-file; no wheel is read. The reports then use these "
        "verdicts.",
        epilog="exit status:\n  0  every stored wheel judged; the reports use these verdicts\n"
        "  2  could not run: a bad option, no store, a policy file that cannot be read, an "
        "audit writing to the store",
    )
    options.add_db_option(p)
    options.add_policy_options(p)
    p.add_argument("--workers", type=count, default=1, help="processes (0 and 1: this one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    existing_store(args.db)
    database = load_policies(args.policy_file)
    digest = policy_digest(args.policy_file, args.musl_policy)  # every policy file hashed
    with Store.open(args.db, create=False) as store:  # an empty file is no store to judge
        # a report must name the policy file of every verdict stored
        store.record_policy_source(digest, policy_source(args.policy_file, args.musl_policy))
        judged = store.reevaluate(
            database,
            digest,
            workers=max(1, args.workers),
            musl_policy=args.musl_policy,
        )
        outdated = store.outdated_facts()
    if outdated:  # e.g. facts stored before the abi3 audit's (issue #17)
        warn(  # not into stdout where stderr was closed, nor status 1 on a full disk
            "reevaluate",
            f"{outdated} wheels' facts are stored in an older format: "
            "the abi3 verdicts among them are unknown until `wheelscan audit` reads them again",
        )
    from wheelscan.cli.printable import escape_controls  # the file's name the user gave: any bytes

    policy = escape_controls(str(args.policy_file)) if args.policy_file else "the built-in policies"
    print(f"{judged} wheels judged anew; the reports now use the verdicts of {policy}")
    return 0
