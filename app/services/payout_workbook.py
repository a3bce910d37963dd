"""The payout batch as a workbook (GET /v1/payouts/{id}/export.xlsx), for whoever pays from a
spreadsheet. A CSV carries only text, which each spreadsheet guesses at: LibreOffice opened
without options reads it in the machine's legacy code page (`Ã‰tÃ©`, a visible BOM), and
the `'` that keeps a 19-digit id exact in the CSV shows, and gets copied. A workbook says
what each cell is:

- Ids (post, platform post, platform user) are text cells: exact, with no apostrophe.
- Money is a number with its cents and the currency in its number format (`9.00 USD`), so
  it adds up; cpm keeps its four places. Views and post counts are whole numbers.
- Times are dates (UTC; a workbook has no time zones), shown `2026-11-01 12:00:00`.
- Text that a spreadsheet would take for a formula or a number when re-entered (`=...`,
  `+`, `-`, `@`, all digits) is a text cell marked "entered as text" (quotePrefix, what a
  spreadsheet itself records for `'=1+1`): shown as typed, never run. Characters a workbook
  cannot hold (control characters) read as U+FFFD.

Sheets: Summary (one line per creator and currency, as summary.csv), Posts (one line per
post, export.csv's columns and the post id), Payout (the batch: id, status, reference,
times, totals per currency)."""

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Payout
from app.repositories import payouts
from app.services.payout_exports import EXPORT_COLUMNS, SUMMARY_COLUMNS

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MOMENT = "yyyy-mm-dd hh:mm:ss"
WHOLE = "#,##0"
_REENTERED_AS_OTHER = ("=", "+", "-", "@")
POST_COLUMNS = (*EXPORT_COLUMNS, "post_id")


def money_format(currency: str, places: int = 2) -> str:
    """`#,##0.00" USD"`: the number as it is, shown with its cents and currency."""
    return f'#,##0.{"0" * places}" {currency}"'


def _text(cell: Cell, value: str | None) -> None:
    if value is None:
        return
    cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    cell.data_type = "s"  # openpyxl reads a leading "=" as a formula; this is text
    if value.startswith(_REENTERED_AS_OTHER) or (value.isascii() and value.isdigit()):
        cell.quotePrefix = True


def _number(cell: Cell, value: int | Decimal | None, number_format: str) -> None:
    if value is None:
        return
    cell.value = value
    cell.number_format = number_format


def _moment(cell: Cell, value: datetime | None) -> None:
    if value is None:
        return
    cell.value = value.astimezone(UTC).replace(tzinfo=None)
    cell.number_format = MOMENT


def _sheet(book: Workbook, title: str, header: Sequence[str], widths: Sequence[int]) -> Worksheet:
    sheet = book.create_sheet(title)
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column, width in zip(sheet.iter_cols(max_row=1), widths, strict=True):
        sheet.column_dimensions[column[0].column_letter].width = width
    sheet.freeze_panes = "A2"
    return sheet


def _summary(book: Workbook, rows: Sequence[Any]) -> None:
    sheet = _sheet(book, "Summary", SUMMARY_COLUMNS, (24, 11, 22, 9, 8, 14, 18))
    for n, r in enumerate(rows, start=2):
        _text(sheet.cell(n, 1), r.creator_handle)
        _text(sheet.cell(n, 2), str(r.platform))
        _text(sheet.cell(n, 3), r.platform_user_id)
        _text(sheet.cell(n, 4), r.currency)
        _number(sheet.cell(n, 5), r.posts, WHOLE)
        _number(sheet.cell(n, 6), r.locked_views, WHOLE)
        _number(sheet.cell(n, 7), r.amount, money_format(r.currency))
    sheet.auto_filter.ref = sheet.dimensions


def _posts(book: Workbook, rows: Sequence[Any], evidence_base: str) -> None:
    widths = (24, 11, 22, 24, 40, 22, 20, 13, 20, 14, 14, 16, 9, 20, 40, 38)
    sheet = _sheet(book, "Posts", POST_COLUMNS, widths)
    for n, r in enumerate(rows, start=2):
        _text(sheet.cell(n, 1), r.creator_handle)
        _text(sheet.cell(n, 2), str(r.platform))
        _text(sheet.cell(n, 3), r.platform_user_id)
        _text(sheet.cell(n, 4), r.campaign)
        _text(sheet.cell(n, 5), r.url)
        _text(sheet.cell(n, 6), r.platform_post_id)
        _moment(sheet.cell(n, 7), r.published_at)
        _number(sheet.cell(n, 8), r.locked_views, WHOLE)
        _moment(sheet.cell(n, 9), r.observed_at)
        _number(sheet.cell(n, 10), r.cpm, money_format(r.currency, 4))
        _number(sheet.cell(n, 11), r.cap, money_format(r.currency))
        _number(sheet.cell(n, 12), r.amount, money_format(r.currency))
        _text(sheet.cell(n, 13), r.currency)
        _moment(sheet.cell(n, 14), r.finalized_at)
        _text(sheet.cell(n, 15), f"{evidence_base}/v1/posts/{r.post_id}/evidence")
        _text(sheet.cell(n, 16), str(r.post_id))
    sheet.auto_filter.ref = sheet.dimensions


def _payout(book: Workbook, payout: Payout, totals: Sequence[Any]) -> None:
    sheet = _sheet(book, "Payout", ("field", "value"), (20, 40))
    facts: list[tuple[str, Any]] = [
        ("payout_id", str(payout.id)),
        ("status", str(payout.status)),
        ("payout_reference", payout.payout_reference),
        ("created_at", payout.created_at),
        ("paid_at", payout.paid_at),
        ("cancelled_at", payout.cancelled_at),
        ("times", "UTC"),
    ]
    for n, (name, value) in enumerate(facts, start=2):
        _text(sheet.cell(n, 1), name)
        if isinstance(value, datetime) or value is None:
            _moment(sheet.cell(n, 2), value)
        else:
            _text(sheet.cell(n, 2), value)
    for n, t in enumerate(totals, start=len(facts) + 2):
        _text(sheet.cell(n, 1), f"total {t.currency} ({t.posts} posts)")
        _number(sheet.cell(n, 2), t.amount, money_format(t.currency))


def workbook(
    payout: Payout,
    creators: Sequence[Any],
    posts: Sequence[Any],
    totals: Sequence[Any],
    evidence_base: str,
) -> bytes:
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    _summary(book, creators)
    _posts(book, posts, evidence_base)
    _payout(book, payout, totals)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def for_payout(session: AsyncSession, payout: Payout, evidence_base: str) -> bytes:
    """The batch's workbook, from the queries behind its CSV files and its totals."""
    creators = await payouts.creator_totals(session, payout.id)
    posts = await payouts.export_rows(session, payout.id)
    totals = (await payouts.currency_totals(session, [payout.id])).get(payout.id, [])
    return workbook(payout, creators, posts, totals, evidence_base)
