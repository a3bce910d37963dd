"""What a spreadsheet shows of a payout workbook: LibreOffice opens the .xlsx headless, with
no filter options (as a person double-clicking it would), and writes every sheet as HTML;
each cell comes back as the text it displays and, for a number or a date, the value it
holds (`sdval`)."""

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from app.settings import PROJECT_ROOT


@dataclass(frozen=True)
class Shown:
    text: str  # as displayed
    value: str | None  # the number held (a date's serial), None for text


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sheets: dict[str, list[list[Shown]]] = {}
        self._sheet = ""
        self._in_title = False
        self._cell: list[str] | None = None
        self._value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "em" and self._in_title:
            self._sheet = ""
        elif tag == "h1":
            self._in_title = True
        elif tag == "tr" and self._sheet:
            self.sheets.setdefault(self._sheet, []).append([])
        elif tag == "td" and self._sheet:
            self._cell, self._value = [], dict(attrs).get("sdval")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_title = False
        elif tag == "td" and self._cell is not None:
            self.sheets[self._sheet][-1].append(Shown("".join(self._cell).strip(), self._value))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_title and self.lasttag == "em":
            self._sheet += data
        elif self._cell is not None:
            self._cell.append(data)


def libreoffice_sheets(workbook: Path) -> dict[str, list[list[Shown]]]:
    """Each sheet's rows as LibreOffice Calc shows them (empty rows dropped)."""
    installer = PROJECT_ROOT / "tests" / "system_packages.sh"
    subprocess.run(["bash", str(installer), "soffice"], check=True)
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice is not None
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                "html",
                "--outdir",
                out,
                str(workbook),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        parser = _Tables()
        parser.feed((Path(out) / f"{workbook.stem}.html").read_text(encoding="utf-8"))
    return {
        name: [row for row in rows if any(cell.text for cell in row)]
        for name, rows in parser.sheets.items()
    }
