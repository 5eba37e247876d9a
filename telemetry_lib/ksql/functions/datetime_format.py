"""Translation of Java ``DateTimeFormatter`` patterns into chrono (polars) format strings.

Owns :func:`java_to_chrono`: ``'yyyy-MM-dd HH:mm:ss.SSS zzz'`` ->
``'%Y-%m-%d %H:%M:%S%.3f %Z'`` (pure; no polars). Quoted text (``'T'``, ``''`` for a quote) is
copied literally and ``%`` escaped. Supported letters: ``y u M L d D H k h K m s S a E z Z X x
V G``; widths follow Java (``M`` 1-2 digits, ``MMM`` short name, ``MMMM`` full name; ``EEE``
/ ``EEEE`` day names; ``S`` runs of 1-3 / 4-6 / 7-9 become millis / micros / nanos).
Unsupported letters raise :class:`~telemetry_lib.ksql.errors.AnalysisError` naming the letter.
Known gaps versus Java: ``X`` prints ``+00:00`` where Java prints ``Z``; zone *names* (``zzzz``)
print abbreviations; ``VV`` prints the abbreviation, not the region id.
"""

from __future__ import annotations

import logging

from telemetry_lib.ksql.errors import AnalysisError

__all__ = ["java_to_chrono"]

logger = logging.getLogger(__name__)


def _letter(ch: str, n: int) -> str:  # noqa: C901 - a table of pattern letters
    if ch in "yu":
        return "%y" if n == 2 else "%Y"
    if ch in "ML":
        return {1: "%-m", 2: "%m", 3: "%b"}.get(n, "%B")
    if ch == "d":
        return "%-d" if n == 1 else "%d"
    if ch == "D":
        return "%j" if n >= 3 else "%-j"
    if ch in "Hk":
        return "%-H" if n == 1 else "%H"
    if ch in "hK":
        return "%-I" if n == 1 else "%I"
    if ch == "m":
        return "%-M" if n == 1 else "%M"
    if ch == "s":
        return "%-S" if n == 1 else "%S"
    if ch == "S":
        return "%3f" if n <= 3 else ("%6f" if n <= 6 else "%9f")
    if ch == "a":
        return "%p"
    if ch == "E":
        return "%a" if n <= 3 else "%A"
    if ch in "zV":
        return "%Z"
    if ch == "Z":
        return "%z" if n <= 3 else "%:z"
    if ch in "Xx":
        return "%z" if n <= 2 else "%:z"
    if ch == "G":
        return "AD"
    raise AnalysisError(
        f"Unsupported letter '{ch}' in date/time format pattern",
        hint="use Java DateTimeFormatter letters such as yyyy MM dd HH mm ss SSS a E z Z X",
    )


def java_to_chrono(pattern: str, *, parse: bool = False) -> str:
    """The chrono format equivalent to Java pattern ``pattern``.

    With ``parse`` the format is for reading text: zone offsets accept ``Z``, ``+01``, ``+0100``
    and ``+01:00`` (chrono ``%#z``), and a fraction after a ``.`` takes any number of digits
    (``%.f``), as Java's parser is lenient there.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "'":
            if i + 1 < n and pattern[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            j = i + 1
            literal: list[str] = []
            while j < n:
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        literal.append("'")
                        j += 2
                        continue
                    break
                literal.append(pattern[j])
                j += 1
            out.append("".join(literal).replace("%", "%%"))
            i = j + 1
            continue
        if ch.isalpha():
            j = i
            while j < n and pattern[j] == ch:
                j += 1
            if parse and ch in "XxZ":
                out.append("%#z")
            elif parse and ch == "S" and out and out[-1] == ".":
                out[-1] = "%.f"
            else:
                out.append(_letter(ch, j - i))
            i = j
            continue
        out.append("%%" if ch == "%" else ch)
        i += 1
    return "".join(out)
