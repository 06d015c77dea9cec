"""Command line: `python -m analysis validate PATH` and `python -m analysis synth ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import synth
from .cohort import DEFAULT_COHORT, check


def _validate(args: argparse.Namespace) -> int:
    report = check(args.path)
    print(f"{args.path}: {report.to_text()}")
    return 0 if report.ok else 1


def _synth(args: argparse.Namespace) -> int:
    if args.patients < 1:
        print("--patients must be at least 1.", file=sys.stderr)
        return 2
    out = synth.write(args.out, args.patients, args.seed)
    print(f"Wrote a synthetic cohort of {args.patients} patients (seed {args.seed}) to {out}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a cohort and list every problem; exit 1 on errors")
    v.add_argument("path", nargs="?", default=str(DEFAULT_COHORT), help="cohort folder or file (default: the shipped cohort)")
    v.set_defaults(func=_validate)

    s = sub.add_parser("synth", help="write a synthetic cohort calibrated to the published abstract")
    s.add_argument("--patients", type=int, default=synth.DEFAULT_PATIENTS)
    s.add_argument("--seed", type=int, default=synth.DEFAULT_SEED)
    s.add_argument("--out", type=Path, required=True, help="folder to write the Parquet tables to")
    s.set_defaults(func=_synth)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI promises a sentence, never a traceback
        print(f"Could not complete '{args.command}': {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
