"""Coach practice notes (Markdown and a one-page PDF) with names taken out.

Why its own module: a handout leaves the review screen (printed, e-mailed, put on a
supervision table), so what it may contain is one rule here — the quoted lines with a line
of context either side and their timestamps; never the family pseudonym, the session title
(it often holds the pseudonym), names spoken in the recording (a child's, a parent's), or
the worker's name unless the person exporting is that worker.

Names spoken in the recording are found by a heuristic, not a model: a capitalised word
*inside* a sentence (not its first word) anywhere in the session is taken as a name, then
every occurrence of it is replaced, at a sentence start too ("Hi Mark, hi Jade." makes
"Jade, what would..." come out as "[name], what would..."). Words that are capitalised in
ordinary English (I, days, months) are kept. It errs towards removing words; a coach
should still read a handout before sharing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REDACTED = "[name]"
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_KEEP = frozenset(
    """I I'm I'd I'll I've Mr Mrs Ms Dr OK Okay Mum Dad Mummy Daddy Nan Gran Grandma Grandad
    God English Christmas Easter Monday Tuesday Wednesday Thursday Friday Saturday Sunday
    Mondays Tuesdays Wednesdays Thursdays Fridays Saturdays Sundays January February March
    April May June July August September October November December TV""".split()
)
PROMPTS = "What made this work? Where else could it help? What would you try next time?"


def _bare(word: str) -> str:
    return re.sub(r"(['’]s|['’])$", "", word)


def spoken_names(texts: Iterable[str]) -> set[str]:
    """Capitalised words met inside a sentence in ``texts`` (see the module docstring)."""
    names: set[str] = set()
    for text in texts:
        for sentence in re.split(r"(?<=[.?!])\s+", text or ""):
            words = _WORD.findall(sentence)
            for w in words[1:]:
                bare = _bare(w)
                if bare[:1].isupper() and bare not in _KEEP and w not in _KEEP:
                    names.add(bare)
    return names


def redactor(names: Iterable[str]):  # noqa: ANN201 - a str -> str function
    """A function replacing each of ``names`` (whole words or phrases such as a pseudonym
    "Family D"; possessives too) in a text. A name is never matched inside a word or after
    an apostrophe, so the "D" of "Family D" leaves "you'd" alone."""
    words = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
    if not words:
        return lambda text: text or ""
    pattern = re.compile(
        r"(?<![A-Za-z'’])(" + "|".join(re.escape(w) for w in words) + r")(?![A-Za-z])",
        re.IGNORECASE,
    )
    return lambda text: pattern.sub(REDACTED, text or "")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(round(float(seconds)))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60:02d}:{s % 60:02d}"


def _heading(i: int, ex: dict[str, Any]) -> str:
    bits = [ex.get("label") or "Starred example"]
    if ex.get("date"):
        bits.append(str(ex["date"])[:7])  # the month is enough to place it
    if ex.get("worker"):
        bits.append(ex["worker"])
    bits.append(_clock(ex.get("start")))
    return f"{i}. " + " · ".join(bits)


def practice_note_markdown(items: list[dict[str, Any]]) -> str:
    """The handout as Markdown; ``items`` are already redacted (``Library.handout_items``)."""
    lines = ["# Practice note", "",
             "Examples of good practice from recorded sessions, for a coaching conversation. "
             "Transcript lines only: no audio, no family names.", ""]
    for i, ex in enumerate(items, 1):
        lines += [f"## {_heading(i, ex)}", ""]
        for c in ex.get("context", []):
            mark = "**" if c.get("is_exemplar") else ""
            lines.append(f"- {_clock(c.get('start'))} *{c.get('role', '')}*: "
                         f"{mark}{c.get('text', '')}{mark}")
        for note in ex.get("notes", []):
            lines.append(f"\n  Note: {note}")
        lines.append("")
    lines.append(f"Prompts: {PROMPTS}")
    return "\n".join(lines) + "\n"


def _font_dir() -> Path:
    """DejaVu Sans from matplotlib's own data (a dependency already): Unicode text (’, —,
    accents) in the PDF without a system font."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def practice_note_pdf(items: list[dict[str, Any]], path: Path) -> int:
    """Write the handout as a one-page A4 PDF (fpdf2); returns how many examples fit.

    Examples that would run past the page are left out and the page says how many (the
    Markdown handout has them all): one sheet is what a supervision conversation uses.
    """
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.add_font("DejaVu", "I", str(fonts / "DejaVuSans-Oblique.ttf"))
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    pdf.set_title("Practice note")
    pdf.set_font("DejaVu", "B", 15)
    pdf.cell(0, 8, "Practice note", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)
    pdf.multi_cell(0, 4.2, "Examples of good practice from recorded sessions, for a coaching "
                   "conversation. Transcript lines only: no audio, no family names.",
                   new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.h - 22  # room for the prompts and the "more" line
    shown = 0
    for i, ex in enumerate(items, 1):
        if pdf.get_y() + _draw_example(pdf, i, ex, dry=True) > bottom:
            break
        _draw_example(pdf, i, ex, dry=False)
        shown += 1
    pdf.ln(3)
    pdf.set_font("DejaVu", "I", 8)
    if shown < len(items):
        pdf.multi_cell(0, 4.2, f"{len(items) - shown} more example(s) did not fit on one page: "
                       "see the Markdown handout.", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 4.2, f"Prompts: {PROMPTS}", new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return shown


def _draw_example(pdf: Any, i: int, ex: dict[str, Any], dry: bool) -> float:
    """Draw one example (or, ``dry``, only measure it): its height in mm."""
    lines: list[tuple[str, float, float, int, str]] = [("B", 9.5, 5.0, 0, _heading(i, ex))]
    for c in ex.get("context", []):
        main = bool(c.get("is_exemplar"))
        text = f"{_clock(c.get('start'))}  {c.get('role', '')}: {c.get('text', '')}"
        lines.append(("B" if main else "", 8.5 if main else 8.0, 4.2, 0 if main else 90, text))
    for note in ex.get("notes", []):
        lines.append(("I", 8.0, 4.2, 0, f"Note: {note}"))
    height = 2.0
    if not dry:
        pdf.ln(2)
    for style, size, lh, grey, text in lines:
        pdf.set_font("DejaVu", style, size)
        if dry:
            height += pdf.multi_cell(0, lh, text, dry_run=True, output="HEIGHT")
        else:
            pdf.set_text_color(grey)
            pdf.multi_cell(0, lh, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    return height
