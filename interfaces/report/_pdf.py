"""The report as PDF, drawn by fpdf2: pure Python, brought by a plain ``pip install``.

fpdf2 needs no system package and no browser (its dependencies, Pillow, fontTools and
defusedxml, are wheels); ReportLab would do as well but is untyped and larger, and
WeasyPrint needs Pango from the system. The sections are those of the HTML
(:func:`interfaces.report._layout.sections`): the same tables, as text a PDF reader
(or pypdf) extracts, and the same charts drawn as vector bars with each bar's value
written beside it.

The PDF's built-in Helvetica covers Latin-1: a character beyond it (in a partnership's
name) is written as ``?`` rather than embedding a font file.
"""

from __future__ import annotations

from typing import Final

from fpdf import FPDF
from fpdf.fonts import FontFace

from interfaces.report._figures import YearReport
from interfaces.report._layout import Chart, Table, sections

__all__ = ["render_pdf"]

_FONT: Final = "Helvetica"
_INK: Final = (27, 27, 27)
_BAR: Final = (0, 94, 165)
_HEAD: Final = FontFace(emphasis="BOLD", fill_color=(230, 230, 230))


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


class _Report(FPDF):
    label = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FONT, size=8)
        self.cell(0, 6, f"{self.label} - page {self.page_no()}", align="C")


def render_pdf(report: YearReport) -> bytes:
    """The report as a PDF document."""
    pdf = _Report(orientation="portrait", unit="mm", format="A4")
    title = _latin1(f"{report.name}: yearly accountability report {report.year.label}")
    pdf.label = _latin1(f"{report.partnership} {report.year.label}")
    pdf.set_title(title)
    pdf.set_lang("en-GB")
    pdf.set_creator("accountability-ledger")
    pdf.set_creation_date(report.as_of)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.set_text_color(*_INK)
    pdf.add_page()
    pdf.set_font(_FONT, style="B", size=16)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for section in sections(report):
        pdf.set_font(_FONT, style="B", size=13)
        if pdf.will_page_break(70):  # a heading is kept with what follows it
            pdf.add_page()
        pdf.ln(3)
        pdf.multi_cell(0, 7, _latin1(section.heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FONT, size=10)
        for line in section.text:
            pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        for chart, table in section.blocks:
            if chart is not None and chart.bars:
                _chart(pdf, chart)
            _table(pdf, table)
    return bytes(pdf.output())


def _chart(pdf: FPDF, chart: Chart) -> None:
    row, label_w, bar_w = 6.0, 55.0, 100.0
    height = 8 + row * len(chart.bars)
    if pdf.will_page_break(height + 6):
        pdf.add_page()
    pdf.set_font(_FONT, style="B", size=10)
    pdf.multi_cell(0, 5, _latin1(chart.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=8)
    pdf.multi_cell(0, 4, _latin1(chart.desc), new_x="LMARGIN", new_y="NEXT")
    x0, y = pdf.l_margin, pdf.get_y() + 1
    pdf.set_fill_color(*_BAR)
    for bar in chart.bars:
        pdf.set_xy(x0, y)
        pdf.cell(label_w - 2, row, _latin1(bar.label), align="R")
        width = bar_w * bar.value / chart.top
        if width > 0:
            pdf.rect(x0 + label_w, y + 1, width, row - 2, style="F")
        pdf.set_xy(x0 + label_w + width + 1, y)
        pdf.cell(20, row, f"{bar.value:g}{chart.unit}")
        y += row
    pdf.set_fill_color(255, 255, 255)  # tables fill with the current colour
    pdf.set_xy(x0, y + 2)


def _table(pdf: FPDF, table: Table) -> None:
    if pdf.will_page_break(20):
        pdf.add_page()
    pdf.set_font(_FONT, style="B", size=9)
    pdf.multi_cell(0, 5, _latin1(table.caption), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=8)
    rows = [list(table.header), *[list(r) for r in table.rows]]
    if not table.rows:
        rows.append(["None in the year.", *[""] * (len(table.header) - 1)])
    first = 2.0 if len(table.header) > 2 else 1.0
    widths = [first, *[1.0] * (len(table.header) - 1)]
    with pdf.table(
        col_widths=widths,
        headings_style=_HEAD,
        line_height=4.5,
        text_align=["RIGHT" if n else "LEFT" for n in table.numeric],
        first_row_as_headings=True,
    ) as out:
        for cells in rows:
            line = out.row()
            for cell in cells:
                line.cell(_latin1(cell))
    pdf.ln(3)
