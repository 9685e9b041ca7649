"""The work prompt as a PDF (A4), with fpdf2 and a CJK font found on this machine.

fpdf2 is pure Python (pip); the font is not shipped: Debian's ``fonts-noto-cjk`` gives
Noto Serif/Sans CJK as TrueType collections. The font is looked up at run time
(``AQCAST_PDF_FONT`` first, then the usual Debian places); without one, ``prompt_pdf``
raises ``PdfFontMissingError`` with a message saying what to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

FONT_ENV = "AQCAST_PDF_FONT"
FONT_DIRS = (
    Path("/usr/share/fonts/opentype/noto"),
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/noto-cjk"),
)
# Body in a serif (宋体-like, as printed documents are), headings in a bold sans (黑体-like).
BODY_FONTS = ("NotoSerifCJK-Regular.ttc", "NotoSansCJK-Regular.ttc")
HEADING_FONTS = ("NotoSansCJK-Bold.ttc", "NotoSerifCJK-Bold.ttc", *BODY_FONTS)
INSTALL_HINT = (
    "no CJK font found for the PDF: install Debian's fonts-noto-cjk "
    "(apt-get install fonts-noto-cjk) or set AQCAST_PDF_FONT to a .ttf/.otf/.ttc file"
)


class PdfFontMissingError(RuntimeError):
    """No font able to print Chinese was found."""


@dataclass(frozen=True)
class CjkFont:
    path: Path
    index: int  # the face in a TrueType collection (0 for a single font file)


def _face_index(path: Path) -> int:
    """The Simplified Chinese face of a collection (Noto CJK holds JP, KR, SC, TC, HK)."""
    if path.suffix.lower() != ".ttc":
        return 0
    from fontTools.ttLib import TTCollection

    with TTCollection(str(path), lazy=True) as coll:
        for i, face in enumerate(coll.fonts):
            if " SC" in str(face["name"].getDebugName(1)):
                return i
    return 0


def find_font(names: Iterable[str], dirs: Iterable[Path] = FONT_DIRS) -> CjkFont | None:
    """The first of ``names`` found in ``dirs``; ``AQCAST_PDF_FONT`` wins when it is set."""
    env = os.environ.get(FONT_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise PdfFontMissingError(f"{FONT_ENV}={env}: no such font file")
        return CjkFont(path, _face_index(path))
    dirs = list(dirs)
    for name in names:
        for d in dirs:
            path = d / name
            if path.is_file():
                return CjkFont(path, _face_index(path))
    return None


def prompt_pdf(prompt: dict, *, dirs: Iterable[Path] = FONT_DIRS) -> bytes:
    """The prompt dict (``alerts.prompt.build_prompt``) laid out on A4 pages."""
    from fpdf import FPDF

    dirs = list(dirs)
    body = find_font(BODY_FONTS, dirs)
    if body is None:
        raise PdfFontMissingError(INSTALL_HINT)
    heading = find_font(HEADING_FONTS, dirs) or body
    zh = prompt.get("lang", "zh") == "zh"
    if "sections" not in prompt:
        from aqcast.alerts.prompt import _legacy_sections

        prompt = _legacy_sections(prompt)

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(20, 14, 20)
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_font("body", "", str(body.path), collection_font_number=body.index)
    pdf.add_font("heading", "", str(heading.path), collection_font_number=heading.index)
    pdf.set_title(prompt.get("title", ""))
    pdf.set_lang("zh-CN" if zh else "en")
    pdf.add_page()
    width = pdf.epw

    red = (192, 0, 0)
    pdf.set_text_color(*red)
    pdf.set_font("heading", size=20)
    pdf.multi_cell(width, 10, prompt.get("title", ""), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("body", size=10.5)
    if prompt.get("number_line"):
        pdf.multi_cell(width, 6, prompt["number_line"], align="C", new_x="LMARGIN", new_y="NEXT")
    if prompt.get("issuer_line"):
        pdf.multi_cell(width, 6, prompt["issuer_line"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*red)
    pdf.set_line_width(0.6)
    pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.l_margin + width, pdf.get_y() + 1)
    pdf.ln(3)
    if prompt.get("preview_line"):
        pdf.set_text_color(*red)
        pdf.multi_cell(width, 6, prompt["preview_line"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)

    indent = "\u3000\u3000" if zh else ""  # a Chinese paragraph starts two characters in
    for section in prompt.get("sections", []):
        pdf.ln(1)
        pdf.set_font("heading", size=11)
        pdf.multi_cell(
            width,
            6,
            f"{section['number']}{section['heading']}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("body", size=10)
        for line in section["lines"]:
            pdf.multi_cell(width, 5.2, indent + line, new_x="LMARGIN", new_y="NEXT")
    if prompt.get("notes"):
        from aqcast.alerts.texts import text

        lang = prompt.get("lang", "zh")
        pdf.ln(2)
        pdf.set_font("body", size=9)
        notes = ("" if zh else " ").join(prompt["notes"])
        pdf.multi_cell(width, 5, text("notes_heading", lang) + notes, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
