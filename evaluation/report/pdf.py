"""The release report as a PDF (A4 portrait, reportlab), with the same content as the HTML page.

The content (every sentence and table) comes from ``evaluation.report.content``; this module only lays it
out: Helvetica 9.5 pt body text, tables sized to the page width with wrapped cells, figures scaled to half
the text width, "Page N of M" in the footer.  Characters Helvetica's encoding lacks (ε, δ, ≤, ≥, ≈) are set in
DejaVu Sans (shipped with matplotlib) so they print and extract as text.  An internal report carries the
INTERNAL warning in a header and a footer on every page.

Privacy caveat: as for the HTML report, everything here except the synthetic data's own properties is
computed from the private data outside the DP guarantee; callers pass aggregates only, and real records
(closest pairs) only for an internal report.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from evaluation.report.content import AuditSection, ReportContent, build_report_content

__all__ = ["pdf_bytes", "render_pdf"]

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
FIGURE_WIDTH = (TEXT_WIDTH - 6 * mm) / 2  # two figures side by side
FIGURE_MAX_HEIGHT = 75 * mm
FIGURE_TALL_HEIGHT = 175 * mm  # a tall figure (e.g. one bar per column) may take most of a page
FIGURE_DPI = 90.0

_GREY = colors.HexColor("#555555")
_RULE = colors.HexColor("#cccccc")
_HEADER_FILL = colors.HexColor("#f3f3f3")
_GROUP_FILL = colors.HexColor("#e8ecf3")
_RED = colors.HexColor("#b52a22")
_KIND_COLORS = {"pass": colors.HexColor("#1e7b1e"), "fail": _RED, "info": _GREY}
_BANNER_COLORS = {  # (fill, border)
    "released": ("#e3f4e1", "#6bb567"), "approved": ("#e3f4e1", "#6bb567"), "passed": ("#e3f4e1", "#6bb567"),
    "blocked": ("#fbe3e1", "#d9534f"), "refused": ("#fbe3e1", "#d9534f"),
    "awaiting": ("#fff4d6", "#e0b400"), "not_required": ("#f3f3f3", "#cccccc"),
}

_SYMBOL_FONT = "DejaVuSans"


def _register_symbol_font() -> bool:
    """Register DejaVu Sans (from matplotlib's data) for the glyphs Helvetica lacks; False if unavailable."""
    if _SYMBOL_FONT in pdfmetrics.getRegisteredFontNames():
        return True
    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont(_SYMBOL_FONT, str(folder / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(f"{_SYMBOL_FONT}-Bold", str(folder / "DejaVuSans-Bold.ttf")))
    except Exception:  # noqa: BLE001 - a missing font degrades glyphs, it must not stop the report
        return False
    from reportlab.lib.fonts import addMapping

    addMapping(_SYMBOL_FONT, 0, 0, _SYMBOL_FONT)
    addMapping(_SYMBOL_FONT, 1, 0, f"{_SYMBOL_FONT}-Bold")
    addMapping(_SYMBOL_FONT, 0, 1, _SYMBOL_FONT)
    addMapping(_SYMBOL_FONT, 1, 1, f"{_SYMBOL_FONT}-Bold")
    return True


def _encodable(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _t(text: str, *, code: bool = False) -> str:
    """Paragraph markup for plain ``text``: escaped, glyphs outside Helvetica's encoding set in DejaVu Sans.

    With ``code``, `backquoted` spans are set in Courier.
    """
    out: list[str] = []
    for i, part in enumerate(str(text).split("`") if code else [str(text)]):
        marked = "".join(
            escape(c) if _encodable(c) else f'<font name="{_SYMBOL_FONT}">{escape(c)}</font>' for c in part
        )
        out.append(f'<font name="Courier">{marked}</font>' if i % 2 else marked)
    return "".join(out)


def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName="Helvetica", fontSize=9.5, leading=12.5, spaceAfter=4)
    return {
        "body": body,
        "title": ParagraphStyle("title", parent=body, fontName="Helvetica-Bold", fontSize=17, leading=21,
                                spaceAfter=3),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=9, textColor=_GREY, spaceAfter=8),
        "h2": ParagraphStyle("h2", parent=body, fontName="Helvetica-Bold", fontSize=13.5, leading=17,
                             spaceBefore=10, spaceAfter=5),
        "h3": ParagraphStyle("h3", parent=body, fontName="Helvetica-Bold", fontSize=11, leading=14,
                             spaceBefore=6, spaceAfter=3),
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=_GREY),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8.5, leading=10.5, spaceAfter=0),
        "cellhead": ParagraphStyle("cellhead", parent=body, fontName="Helvetica-Bold", fontSize=8.5,
                                   leading=10.5, spaceAfter=0),
        "label": ParagraphStyle("label", parent=body, fontSize=8, leading=10, textColor=_GREY, spaceAfter=0),
        "group": ParagraphStyle("group", parent=body, fontName="Helvetica-Bold", fontSize=12, leading=15,
                                spaceBefore=8, spaceAfter=1),
        "question": ParagraphStyle("question", parent=body, fontSize=8, leading=10, textColor=_GREY),
        "cellkey": ParagraphStyle("cellkey", parent=body, fontName="Helvetica-Bold", fontSize=8, leading=10,
                                  spaceAfter=0),
        "tiny": ParagraphStyle("tiny", parent=body, fontSize=7, leading=8.5, spaceAfter=0),
        "caption": ParagraphStyle("caption", parent=body, fontSize=7.5, leading=9, textColor=_GREY,
                                  alignment=TA_CENTER, spaceAfter=0),
        "banner": ParagraphStyle("banner", parent=body, fontName="Helvetica-Bold", fontSize=11.5, leading=14.5,
                                 spaceAfter=0),
        "warning": ParagraphStyle("warning", parent=body, fontName="Helvetica-Bold", textColor=colors.white,
                                  spaceAfter=0),
        "bullet": ParagraphStyle("bullet", parent=body, leftIndent=10, bulletIndent=2, spaceAfter=2),
    }


_GRID = TableStyle([
    ("GRID", (0, 0), (-1, -1), 0.5, _RULE),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), 4),
    ("RIGHTPADDING", (0, 0), (-1, -1), 4),
    ("TOPPADDING", (0, 0), (-1, -1), 2.5),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
])


def _banner(markup: str, kind: str, style: ParagraphStyle) -> Table:
    fill, border = _BANNER_COLORS.get(kind, _BANNER_COLORS["awaiting"])
    table = Table([[Paragraph(markup, style)]], colWidths=[TEXT_WIDTH])
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(fill)),
        ("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor(border)),
        ("LEFTPADDING", (0, 0), (-1, -1), 8), ("RIGHTPADDING", (0, 0), (-1, -1), 8),
        ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
    ]))
    return table


def _colored(text: str, kind: str) -> str:
    return f'<font color="{_KIND_COLORS[kind].hexval()}"><b>{_t(text)}</b></font>'


def _natural_image(b64: str) -> Image:
    """The PNG at its natural size (its own dpi, 90 by default: ``plots.new_figure``'s)."""
    data = base64.b64decode(b64)
    image = Image(io.BytesIO(data))
    with PILImage.open(io.BytesIO(data)) as png:
        dpi = float((png.info.get("dpi") or (FIGURE_DPI,))[0]) or FIGURE_DPI
    image.drawWidth, image.drawHeight = image.imageWidth * 72 / dpi, image.imageHeight * 72 / dpi
    return image


def _fit(image: Image, *, width: float, height: float) -> Image:
    """Scale ``image`` down (never up) to fit ``width`` x ``height``, keeping its aspect ratio."""
    scale = min(1.0, width / image.drawWidth, height / image.drawHeight)
    image.drawWidth, image.drawHeight = image.drawWidth * scale, image.drawHeight * scale
    return image


def _pairable(image: Image) -> bool:
    """Small figures go two per row; wide or tall ones get a row of their own."""
    return image.drawWidth <= FIGURE_WIDTH * 1.3 and image.drawHeight <= FIGURE_MAX_HEIGHT * 1.3


def _figure_grid(figures: Sequence[tuple[str, str]], s: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Figures with captions: small ones two per row at half the text width, large ones alone at full width."""
    items = [(title, _natural_image(b64)) for title, b64 in figures]
    rows: list[list[tuple[str, Image]]] = []
    for title, image in items:
        if _pairable(image) and rows and len(rows[-1]) == 1 and _pairable(rows[-1][0][1]):
            rows[-1].append((title, image))
        else:
            rows.append([(title, image)])
    flowables: list[Flowable] = []
    for row in rows:
        if len(row) == 1 and not _pairable(row[0][1]):
            title, image = row[0]
            cells = [[_fit(image, width=TEXT_WIDTH, height=FIGURE_TALL_HEIGHT), Paragraph(_t(title), s["caption"])]]
            widths = [TEXT_WIDTH]
        else:
            cells = [[_fit(image, width=FIGURE_WIDTH, height=FIGURE_MAX_HEIGHT), Paragraph(_t(title), s["caption"])]
                     for title, image in row]
            cells += [""] * (2 - len(cells))
            widths = [TEXT_WIDTH / 2] * 2
        table = Table([cells], colWidths=widths)
        table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                                   ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
        flowables.append(table)
    return flowables


class _Bookmark(Flowable):
    """A zero-size marker that becomes a PDF outline entry (section navigation in the reader's sidebar)."""

    def __init__(self, key: str, title: str, level: int) -> None:
        super().__init__()
        self.key, self.title, self.level = key, title, level

    def wrap(self, *_: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        self.canv.bookmarkPage(self.key)
        self.canv.addOutlineEntry(self.title, self.key, level=self.level)


def _heading(content: ReportContent, key: str, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    section = content.section(key)
    return [_Bookmark(f"section-{key}", section.heading, 0), Paragraph(_t(section.heading), s["h2"])]


def _summary(content: ReportContent, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    parts: list[Flowable] = [_banner(_t(content.headline), content.status, s["banner"]), Spacer(1, 4)]
    parts += [Paragraph(_t(reason), s["bullet"], bulletText="•") for reason in content.reasons]
    parts.append(Paragraph(_t(content.tally), s["body"]))
    widths = [w * mm for w in (50, 24, 18, 30, 30, 22)]
    data: list[list[Any]] = [[Paragraph(_t(c), s["cellhead"]) for c in content.summary_columns]]
    style = [("BACKGROUND", (0, 0), (-1, 0), _HEADER_FILL)]
    for group in content.groups:
        first = len(data)
        for row in group.rows:
            data.append([
                Paragraph(f"{_t(row.title)}<br/><font size=7 color='#555555'>{_t(row.name)}</font>", s["cell"]),
                Paragraph(_t(group.title), s["cell"]),
                Paragraph(_t(row.value), s["cell"]),
                Paragraph(_t(row.interval), s["cell"]),
                Paragraph(_t(row.threshold), s["cell"]),
                Paragraph(_colored(row.verdict, row.kind), s["cell"]),
            ])
        style += [("SPAN", (1, first), (1, len(data) - 1)), ("BACKGROUND", (1, first), (1, len(data) - 1), _GROUP_FILL)]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(_GRID)
    table.setStyle(TableStyle(style))
    parts += [table, Spacer(1, 3), Paragraph(_t(content.gate_rule), s["small"])]
    if content.gate_rates:
        parts += [Spacer(1, 2), Paragraph(_t(content.gate_rates), s["small"])]
    return parts


def _privacy(content: ReportContent, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    statement = content.privacy
    parts: list[Flowable] = []
    if statement.warning:
        warning = Table([[Paragraph(_t(statement.warning), s["warning"])]], colWidths=[TEXT_WIDTH])
        warning.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), _RED), ("LEFTPADDING", (0, 0), (-1, -1), 8),
                                     ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 7)]))
        parts += [warning, Spacer(1, 6)]
    parts += [Paragraph(_t(p), s["body"]) for p in statement.paragraphs]
    if statement.public_facts:
        parts.append(Paragraph(_t(statement.public_facts_intro), s["body"]))
        parts += [Paragraph(_t(f), s["bullet"], bulletText="•") for f in statement.public_facts]
    parts.append(Paragraph(f"<b>{_t(statement.outside_label)}</b> {_t(statement.outside)}", s["body"]))
    return parts


def _two_column(
    rows: Sequence[tuple[str, str]], s: dict[str, ParagraphStyle], *, key_width: float, caption: str | None = None
) -> Table:
    """A key/value table; ``caption`` becomes a header row, repeated when the table continues on a new page."""
    data: list[list[Any]] = [[Paragraph(_t(caption), s["label"]), ""]] if caption else []
    data += [[Paragraph(_t(k), s["cellkey"]), Paragraph(_t(v), s["cell"])] for k, v in rows]
    table = Table(data, colWidths=[key_width, TEXT_WIDTH - key_width], repeatRows=1 if caption else 0)
    table.setStyle(_GRID)
    table.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), _HEADER_FILL)]))
    if caption:
        table.setStyle(TableStyle([("SPAN", (0, 0), (-1, 0)), ("BACKGROUND", (0, 0), (-1, 0), colors.white),
                                   ("LINEABOVE", (0, 0), (-1, 0), 0, colors.white),
                                   ("LINEBEFORE", (0, 0), (0, 0), 0, colors.white),
                                   ("LINEAFTER", (-1, 0), (-1, 0), 0, colors.white),
                                   ("LEFTPADDING", (0, 0), (-1, 0), 0)]))
    return table


def _audit(audit: AuditSection, s: dict[str, ParagraphStyle], *, lead: Sequence[Flowable] = ()) -> list[Flowable]:
    """One audit; ``lead`` (e.g. its category heading) is kept on the same page as the audit's heading."""
    head = [
        *lead,
        _Bookmark(f"audit-{audit.name}", audit.title, 1),
        Paragraph(f"{_t(audit.title)} &nbsp;{_colored('[' + audit.verdict + ']', audit.kind)}", s["h3"]),
        Paragraph(_t(f"{audit.category_title} · {audit.name}"), s["small"]),
        Paragraph(_t(audit.explanation), s["body"]),
        Paragraph(f"<b>{_t(audit.numbers)}</b>", s["body"]),
    ]
    if audit.note:
        head.append(Paragraph(f"<i>{_t(audit.note)}</i>", s["body"]))
    if audit.error_rates:
        head.append(Paragraph(_t(audit.error_rates), s["small"]))
    figures = _figure_grid(audit.figures, s)
    # Keep the heading with its first figure when that figure is a small one (a tall one may need a page).
    first = 1 if audit.figures and _pairable(_natural_image(audit.figures[0][1])) else 0
    parts: list[Flowable] = [KeepTogether(head + figures[:first]), *figures[first:]]
    if audit.details:
        parts.append(_two_column(audit.details, s, key_width=60 * mm, caption="Details (aggregates)"))
    parts.append(Spacer(1, 8))
    return parts


def _audits(content: ReportContent, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    if not content.audits:
        return [Paragraph(_t(content.no_audits), s["body"])]
    parts: list[Flowable] = []
    for number, group in enumerate(content.groups):
        if number:
            parts.append(CondPageBreak(50 * mm))
        lead: list[Flowable] = [Paragraph(_t(group.title), s["group"])]
        if group.question:
            lead.append(Paragraph(_t(group.question), s["question"]))
        for audit in content.audits:
            if audit.category == group.category:
                parts += _audit(audit, s, lead=lead)
                lead = []
    return parts


def _columns(content: ReportContent, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    parts: list[Flowable] = [Paragraph(_t(content.column_plots_note), s["small"]), Spacer(1, 4)]
    if not content.column_plots:
        return parts + [Paragraph(_t(content.no_column_plots), s["body"])]
    return parts + _figure_grid(content.column_plots, s)


def _notes(content: ReportContent, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    parts: list[Flowable] = [Paragraph(_t(n), s["bullet"], bulletText="•") for n in content.notes]
    if not parts:
        parts.append(Paragraph(_t(content.no_notes), s["body"]))
    if content.release_facts:
        parts += [Spacer(1, 6), KeepTogether(_two_column(content.release_facts, s, key_width=70 * mm))]
    return parts


def _sign_off(content: ReportContent, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    sign_off = content.sign_off
    assert sign_off is not None
    return [_banner(_t(sign_off.text, code=True), sign_off.kind, s["banner"])]


_PAIR_COLUMN_WIDTH = 24 * mm


def _pairs(content: ReportContent, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The closest pairs table, split into column blocks that fit the page (the first column repeated)."""
    pairs = content.closest_pairs
    assert pairs is not None
    parts: list[Flowable] = [Paragraph(_t(pairs.intro), s["body"])]
    if not pairs.columns:
        return parts
    per_block = max(1, int(TEXT_WIDTH // _PAIR_COLUMN_WIDTH) - 1)
    rest = list(range(1, len(pairs.columns)))
    blocks = [rest[i:i + per_block] for i in range(0, len(rest), per_block)] or [[]]
    for number, block in enumerate(blocks, start=1):
        indices = [0, *block]
        width = TEXT_WIDTH / len(indices)
        data = [[Paragraph(_t(pairs.columns[i]), s["cellhead"]) for i in indices]]
        data += [[Paragraph(_t(row[i]), s["tiny"]) for i in indices] for row in pairs.rows]
        table = Table(data, colWidths=[width] * len(indices), repeatRows=1)
        table.setStyle(_GRID)
        table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), _HEADER_FILL)]))
        if len(blocks) > 1:
            parts.append(Paragraph(_t(f"Columns, part {number} of {len(blocks)}"), s["small"]))
        parts += [table, Spacer(1, 6)]
    return parts


_BODIES: dict[str, Callable[[ReportContent, dict[str, ParagraphStyle]], list[Flowable]]] = {
    "summary": _summary, "privacy": _privacy, "audits": _audits, "columns": _columns, "notes": _notes,
    "sign_off": _sign_off, "pairs": _pairs,
}


def _page_decorator(content: ReportContent) -> Callable[[Canvas, Any], None]:
    """The onPage callback: footer with the report title (and, internal, the warning at top and bottom)."""
    title = content.title if len(content.title) <= 90 else content.title[:89] + "…"

    def decorate(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setStrokeColor(_RULE)
        canvas.line(MARGIN, 12 * mm, PAGE_WIDTH - MARGIN, 12 * mm)
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(_GREY)
        canvas.drawString(MARGIN, 8 * mm, title)
        if content.internal_warning:
            canvas.setFillColor(_RED)
            canvas.rect(0, PAGE_HEIGHT - 11 * mm, PAGE_WIDTH, 11 * mm, stroke=0, fill=1)
            canvas.setFillColor(colors.white)
            canvas.setFont("Helvetica-Bold", 10.5)
            canvas.drawCentredString(PAGE_WIDTH / 2, PAGE_HEIGHT - 7.2 * mm, content.internal_warning)
            canvas.setFillColor(_RED)
            canvas.setFont("Helvetica-Bold", 8)
            canvas.drawCentredString(PAGE_WIDTH / 2, 4 * mm, content.internal_warning)
        canvas.restoreState()

    return decorate


class _NumberedCanvas(Canvas):
    """A canvas that writes "Page N of M" in the footer once the page count is known."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.saveState()
            self.setFont("Helvetica", 7.5)
            self.setFillColor(_GREY)
            self.drawRightString(PAGE_WIDTH - MARGIN, 8 * mm, f"Page {self._pageNumber} of {total}")
            self.restoreState()
            super().showPage()
        super().save()


def pdf_bytes(*, content: ReportContent) -> bytes:
    """The report content as PDF bytes (A4 portrait)."""
    _register_symbol_font()
    s = _styles()
    story: list[Flowable] = [Paragraph(_t(content.title), s["title"])]
    if content.subtitle:
        story.append(Paragraph(_t(content.subtitle), s["subtitle"]))
    for section in content.sections:
        body = _BODIES[section.key](content, s)
        story += [CondPageBreak(40 * mm), KeepTogether(_heading(content, section.key, s) + body[:1]), *body[1:]]
    buffer = io.BytesIO()
    top = MARGIN + (6 * mm if content.internal else 0)
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=top, bottomMargin=MARGIN,
        title=content.title, author="synthdata", subject="Synthetic data release report",
        creator="synthdata (reportlab)", invariant=1,
    )
    decorate = _page_decorator(content)
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate, canvasmaker=_NumberedCanvas)
    return buffer.getvalue()


def render_pdf(*, path: Path | str, content: ReportContent | None = None, **report: Any) -> Path:
    """Write the report to ``path`` as a PDF; pass ``content`` or the ``build_report_content`` arguments.

    Callers that publish the file write it inside ``synthdata.export.atomic.atomic_folder``.
    """
    if content is None:
        content = build_report_content(**report)
    elif report:
        raise TypeError(f"pass either content or the report arguments, not both (got {', '.join(sorted(report))})")
    path = Path(path)
    path.write_bytes(pdf_bytes(content=content))
    return path
