"""Markdown for the family's voice: one family's record, and families' progress beside
practice (``Store.family_progress``) as prompts for reflection, never a ranking.

Kept apart from the Gradio tab (``web.tab_family``) so the wording is tested without
loading Gradio.
"""

from __future__ import annotations

from html import escape
from typing import Any

from msw_audio.review.analytics import MIN_GROUP
from msw_audio.web.render import PRINCIPLE_LABELS


def md_cell(value: Any) -> str:
    """A value as one escaped Markdown table cell (family text may hold | or <)."""
    text = "–" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))
    return escape(text).replace("|", "\\|").replace("\n", " ")


def family_markdown(view: dict[str, Any]) -> str:
    """One family's goals (with ratings), feedback and visits, as Markdown."""
    lines = [f"### {md_cell(view['pseudonym'])} · team {md_cell(view['team'] or '(none)')}", ""]
    if view["goals"]:
        lines += ["| Goal | Set | Status | Ratings (GBO 0–10) | Change |", "|---|---|---|---|---|"]
        for g in view["goals"]:
            ratings = ", ".join(f"{r['score']} ({r['occasion']} {r['date']})"
                                for r in g["ratings"]) or "not rated yet"
            status = "active" if g["active"] else f"closed {g['closed_on']}"
            label = f"{g['number']}. {g.get('text', '')}"
            lines.append(f"| {md_cell(label)} | {g['set_on']} | {status} | {md_cell(ratings)} | "
                         f"{md_cell(g['change'])} |")
    else:
        lines.append("*No goals yet.*")
    lines.append("")
    lines += _visits_and_feedback(view)
    return "\n".join(lines)


def _visits_and_feedback(view: dict[str, Any]) -> list[str]:
    lines = []
    visits = view.get("visits") or []
    if visits:
        lines += ["**Visits** (mean of confirmed principle scores, 1–5; ◆ between the first "
                  "and last rating)", ""]
        for v in visits:
            mark = "◆ " if v["between"] else ""
            lines.append(f"- {mark}{v['date'] or 'no date'} · {md_cell(v['recording_type'])} · "
                         f"practice {md_cell(v['mean_confirmed'])}")
        lines.append("")
    if view.get("feedback"):
        lines += ["**The family's feedback after visits**", ""]
        for f in view["feedback"]:
            answers = "; ".join(f"{k}: {md_cell(v)}" for k, v in f["answers"].items())
            lines.append(f"- {f['date']}: {answers}")
    return lines


def progress_markdown(progress: dict[str, Any], own: bool = False) -> str:
    """``Store.family_progress`` as Markdown prompts: goal progress beside practice scores."""
    head = ("**Prompts for reflection, not a ranking.** Each family's own rating of progress "
            "(Goal-Based Outcomes, start → latest) sits beside the confirmed practice scores "
            "of the visits in between; what else happened in the family is not here.")
    if progress["hidden"]:
        return (f"{head}\n\n*Nothing to show: fewer than {MIN_GROUP} families with ratings "
                f"in this group ({progress['n_families']}).*")
    if not progress["families"]:
        return f"{head}\n\n*No families with ratings yet.*"
    lines = [head, "", "| Family | Goals: start → latest | Change | Practice between (1–5) | "
             "Visits between | Feedback (helpfulness) |", "|---|---|---|---|---|---|"]
    for f in progress["families"]:
        goals = "; ".join(f"{g['number']}: {g['start']} → {g['latest']}"
                          for g in f["goals"] if g["ratings"])
        n_between = sum(1 for v in f["visits"] if v["between"])
        helpful = ", ".join(str(x["answers"].get("helpfulness")) for x in f["feedback"]
                            if "helpfulness" in x["answers"]) or "–"
        lines.append(f"| {md_cell(f['pseudonym'])} | {md_cell(goals)} | "
                     f"{md_cell(f['gbo_change'])} | {md_cell(f['practice_between'])} | "
                     f"{n_between} | {md_cell(helpful)} |")
    rel = progress.get("relation")
    lines.append("")
    if rel:
        lines.append(f"**Confirmed practice scores and family-rated change** (Pearson, "
                     f"Fisher interval): {escape(rel['text'])}.")
        for name, r in rel["per_principle"].items():
            if r["r"] is not None:
                lines.append(f"- {PRINCIPLE_LABELS.get(name, name)}: r = {r['r']:+.2f} "
                             f"(n = {r['n']})")
        lines.append("")
        lines.append("*Few families and many other influences: a question to discuss "
                     "(what helped where families saw change?), not evidence of cause.*")
    else:
        lines.append(f"*The relation to practice scores needs at least {MIN_GROUP} families "
                     "with a start and a review rating and a reviewed visit in between.*")
    if own:
        lines.insert(1, "*Your own families (visits you made).*")
    return "\n".join(lines)
