"""The CSV files a brand pays from: one line per post (export.csv) and one per creator and
currency (summary.csv). The post list's CSV (app.services.post_lists) is written by the same
cells and lines, so it keeps every rule below.

- RFC 4180: comma-separated, fields quoted when needed (doubled quotes inside), CRLF line ends.
- UTF-8 with a byte order mark. Excel opens a CSV without a BOM in the machine's legacy code
  page, which garbles every non-ASCII handle or campaign name; with the BOM it reads UTF-8.
  LibreOffice and Python's csv module (encoding "utf-8-sig") read it either way, so the BOM
  costs nothing and spares the most common reader its mojibake.
- A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`
  (OWASP's advice against CSV injection): spreadsheets then show it as text instead of running
  it as a formula. A handle or campaign name is someone else's input.
- An all-digit platform id gets the same `'`: spreadsheets read a 19-digit TikTok id as a
  number and round it (6.71833539084510E+18); as text it stays exact.
- Money is a plain decimal with its cents (`1234.50`), views a plain integer: numbers a
  spreadsheet adds up. Times are ISO 8601 in UTC (`2026-11-28T10:00:00Z`).
"""

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.domain.lifecycle import CENT

BOM = "\ufeff"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

EXPORT_COLUMNS = (
    "creator_handle",
    "platform",
    "platform_user_id",
    "campaign",
    "post_url",
    "platform_post_id",
    "published_at",
    "locked_views",
    "observed_at",
    "cpm",
    "cap",
    "earnings",
    "currency",
    "finalized_at",
    "evidence_url",
)
SUMMARY_COLUMNS = (
    "creator_handle",
    "platform",
    "platform_user_id",
    "currency",
    "posts",
    "locked_views",
    "amount",
)


def neutralize(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def identifier(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.isascii() and value.isdigit() else neutralize(value)


def moment(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def amount(value: Decimal | None, places: Decimal = CENT) -> str:
    return "" if value is None else format(value.quantize(places), "f")


def lines(rows: Iterable[Sequence[str]]) -> str:
    """Rows as RFC 4180 lines (a file is the BOM, then its header's line and its rows')."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)  # RFC 4180's CRLF
    return buffer.getvalue()


def _write(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    return (BOM + lines([header]) + lines(rows)).encode()


def export_csv(rows: Sequence[Any], evidence_base: str) -> bytes:
    return _write(
        EXPORT_COLUMNS,
        (
            [
                neutralize(r.creator_handle),
                str(r.platform),
                identifier(r.platform_user_id),
                neutralize(r.campaign),
                neutralize(r.url),
                identifier(r.platform_post_id),
                moment(r.published_at),
                str(r.locked_views),
                moment(r.observed_at),
                amount(r.cpm, Decimal("0.0001")),
                amount(r.cap),
                amount(r.amount),
                r.currency,
                moment(r.finalized_at),
                f"{evidence_base}/v1/posts/{r.post_id}/evidence",
            ]
            for r in rows
        ),
    )


def summary_csv(rows: Sequence[Any]) -> bytes:
    return _write(
        SUMMARY_COLUMNS,
        (
            [
                neutralize(r.creator_handle),
                str(r.platform),
                identifier(r.platform_user_id),
                r.currency,
                str(r.posts),
                str(r.locked_views),
                amount(r.amount),
            ]
            for r in rows
        ),
    )
