"""Rewrite tests/conformance/passing.txt from a fresh run of the public corpus.

Run as ``python -m tests.conformance.regenerate`` (what ``make passing`` calls). The list is
sorted and stable; review the diff before committing: a line that disappears is a regression.
"""

from __future__ import annotations

import sys

from telemetry_lib.ksql.qtt import summary_line
from tests.conformance.corpus import PASSING, read_passing, run_corpus, write_passing


def main() -> int:
    before = set(read_passing())
    results = run_corpus()
    after = set(write_passing(results))
    lost = sorted(before - after)
    print(summary_line(results))
    print(f"{PASSING}: {len(after)} passing tests ({len(after - before)} new, {len(lost)} lost)")
    for line in lost:
        print(f"  no longer passing: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
