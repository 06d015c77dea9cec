"""Command line: validate a cohort, print the report, export the endpoints, write a synthetic cohort.

    python -m analysis validate [COHORT]
    python -m analysis report [COHORT] [--diagnosis ITP,AIHA] [--sex F] [--age-min N] [--age-max N] [--format json|markdown]
    python -m analysis endpoints [COHORT] [same filters] --out FILE.csv|FILE.parquet
    python -m analysis slides [COHORT] [same filters] --out talk.pptx|talk.html
    python -m analysis synth --patients N --seed S --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from . import synth
from .cohort import DEFAULT_COHORT, check, load
from .definitions import Definitions
from .filters import Filters
from .schema import CohortError


def _validate(args: argparse.Namespace) -> int:
    report = check(args.path)
    print(f"{args.path}: {report.to_text()}")
    return 0 if report.ok else 1


def _filters(args: argparse.Namespace) -> Filters:
    """The Filters value of the command line's filter flags (one flag per field of Filters)."""
    values = {}
    for f in fields(Filters):
        if f.metadata.get("definitions"):  # the reviewer's switches: one on/off flag each
            values[f.name] = Definitions(**{d.name: getattr(args, d.name) for d in fields(Definitions)})
            continue
        value = getattr(args, f.name)
        if f.metadata.get("codes"):  # --diagnosis ITP,AIHA → ("ITP", "AIHA"); not given → None (any)
            value = tuple(v.strip().upper() for v in value.split(",") if v.strip()) if value else None
        values[f.name] = value
    return Filters(**values)


def _load(args: argparse.Namespace):
    try:
        return load(args.cohort)
    except CohortError as err:
        print(f"{args.cohort}: the cohort cannot be analysed.\n{err.report.to_text()}", file=sys.stderr)
        return None


def _report(args: argparse.Namespace) -> int:
    from .report import build, markdown

    filters = _filters(args)
    cohort = _load(args)
    if cohort is None:
        return 1
    rep = build(cohort, filters)
    print(json.dumps(rep, indent=2, ensure_ascii=False, allow_nan=False) if args.format == "json" else markdown(rep))
    return 0


def _inputs(args: argparse.Namespace, suffixes: tuple[str, str]):
    """The filters, the output path and the cohort of a command that writes a file; or the exit
    code after saying what is wrong (2: the file name, 1: the cohort)."""
    filters = _filters(args)
    out = Path(args.out)
    if out.suffix.lower() not in suffixes:
        print(f"--out must end in {' or '.join(suffixes)} (got {out.name}).", file=sys.stderr)
        return 2
    cohort = _load(args)
    return 1 if cohort is None else (filters, out, cohort)


def _endpoints(args: argparse.Namespace) -> int:
    from .report import endpoints_csv, endpoints_table

    inputs = _inputs(args, (".csv", ".parquet"))
    if isinstance(inputs, int):
        return inputs
    filters, out, cohort = inputs
    table = endpoints_table(cohort, filters)
    if out.suffix.lower() == ".csv":
        out.write_bytes(endpoints_csv(table))
    else:
        table.to_parquet(out, index=False)
    print(f"Wrote {len(table)} patients × {table.shape[1]} columns ({filters.describe()}) to {out}.")
    return 0


def _slides(args: argparse.Namespace) -> int:
    from .slides import NoRenderer, deck, to_html, to_pptx

    inputs = _inputs(args, (".pptx", ".html"))
    if isinstance(inputs, int):
        return inputs
    filters, out, cohort = inputs
    d = deck(cohort, filters)
    try:
        data = to_pptx(d) if out.suffix.lower() == ".pptx" else to_html(d).encode("utf-8")
    except NoRenderer as err:
        print(str(err), file=sys.stderr)
        return 1
    out.write_bytes(data)
    print(f"Wrote {len(d.slides) + 1} slides ({filters.describe()}) to {out}.")
    return 0


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("cohort", nargs="?", default=str(DEFAULT_COHORT), help="cohort folder or file (default: the shipped cohort)")
    for f in fields(Filters):
        flag = "--" + f.name.replace("_", "-")
        if f.metadata.get("definitions"):
            for d in fields(Definitions):
                p.add_argument("--" + d.name.replace("_", "-"), dest=d.name, action="store_true", help=d.metadata["help"])
        elif f.metadata.get("codes"):
            p.add_argument(flag, dest=f.name, help=f"{f.metadata['help']}, comma-separated: {', '.join(f.metadata['codes'])}")
        else:
            p.add_argument(flag, dest=f.name, type=float, help=f.metadata["help"])


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

    r = sub.add_parser("report", help="print every result for the filtered cohort (JSON or Markdown)")
    _add_filters(r)
    r.add_argument("--format", choices=("json", "markdown"), default="json")
    r.set_defaults(func=_report)

    e = sub.add_parser("endpoints", help="write the derived per-patient table (.csv or .parquet)")
    _add_filters(e)
    e.add_argument("--out", required=True)
    e.set_defaults(func=_endpoints)

    sl = sub.add_parser("slides", help="write the filtered analysis as a slide deck (.pptx or offline .html)")
    _add_filters(sl)
    sl.add_argument("--out", required=True)
    sl.set_defaults(func=_slides)

    s = sub.add_parser("synth", help="write a synthetic cohort calibrated to the published abstract")
    s.add_argument("--patients", type=int, default=synth.DEFAULT_PATIENTS)
    s.add_argument("--seed", type=int, default=synth.DEFAULT_SEED)
    s.add_argument("--out", type=Path, required=True, help="folder to write the Parquet tables to")
    s.set_defaults(func=_synth)

    args = parser.parse_args(argv)
    if hasattr(args, "diagnosis"):
        try:
            _filters(args)
        except ValueError as err:
            print(f"Invalid filter: {err}.", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI promises a sentence, never a traceback
        print(f"Could not complete '{args.command}': {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
