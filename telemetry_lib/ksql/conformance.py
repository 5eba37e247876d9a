"""The conformance runner's command line: ksqlDB's QTT files on the in-memory driver.

Usage (other issues and checks rely on this exact form)::

    python -m telemetry_lib.ksql.conformance [--json OUT] [--filter SUBSTR] PATH...

(``--jobs N`` additionally runs the files in N worker processes; the output is the same.)

PATH is a QTT file or a folder of them. Prints ``<file>: P passed, F failed, U unsupported of N``
per file and, last, exactly ``conformance: P passed, F failed, U unsupported of N``. ``--json``
writes ``{"results": [{"file", "test", "status", "reason"}]}``; ``--filter`` keeps the tests
whose name (or file name) contains SUBSTR, ignoring case. The exit code is 0 unless the runner
itself fails (a missing PATH, an unwritable OUT): failing tests are data; the ratchet test
(tests/conformance/test_ratchet.py) decides what is a regression.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from telemetry_lib.ksql.qtt.report import file_line, results_json, run_paths, summary_line

__all__ = ["main"]

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m telemetry_lib.ksql.conformance",
        description="Run ksqlDB query-validation tests (QTT) on the in-memory engine driver.",
    )
    parser.add_argument("--json", metavar="OUT", help="write per-test results as JSON to OUT")
    parser.add_argument("--filter", metavar="SUBSTR", help="only tests whose name contains SUBSTR")
    parser.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="run files in N worker processes"
    )
    parser.add_argument("paths", metavar="PATH", nargs="+", help="QTT file or folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        results = run_paths(
            args.paths,
            name_filter=args.filter,
            on_file=lambda file, rs: print(file_line(file, rs), flush=True),
            jobs=max(1, args.jobs),
        )
    except FileNotFoundError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2
    print(summary_line(results), flush=True)
    if args.json:
        try:
            Path(args.json).write_text(results_json(results) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"conformance: cannot write {args.json}: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
