"""``python -m bench [--only NAME ...] [--list]``: run the benchmarks and write the results.

Without ``--only`` every discovered benchmark runs and the result files are rewritten; with
``--only`` just those run and their entries in ``bench/results/latest.json`` are replaced.
Exits 1 when a benchmark failed (its entry then says so in ``notes``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from bench.harness import (
    RESULTS_DIR,
    discover,
    load_results,
    merge_results,
    render_markdown,
    run_benchmarks,
    write_results,
)

__all__ = ["main"]

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this benchmark (function name without 'bench_'); repeatable",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    benchmarks = discover()
    if args.list:
        for name, fn in benchmarks:
            print(f"{name:40s} {fn.__module__}")
        return 0
    results, failures = run_benchmarks(benchmarks, only=args.only)
    latest = RESULTS_DIR / "latest.json"
    previous = load_results(latest) if args.only else []
    records = merge_results(previous, results)
    path = write_results(records)
    print(render_markdown([r.to_dict() for r in results]))
    print(f"results written to {path} and {path.with_suffix('.md')}")
    if failures:
        print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
