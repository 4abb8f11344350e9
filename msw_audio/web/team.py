"""Team view figures and reflection prompts from ``Store.team_summary`` (long format).

Why prompts, not rankings: the team view exists so a team can talk about its practice.
Figures show groups (a team, the whole service, or one worker's own trend), never a
comparison of named workers, and the store already drops any group-month with fewer
than three sessions.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from msw_audio.web.render import PRINCIPLE_LABELS  # noqa: E402

MITI_LABELS = {
    "reflection_to_question": "Reflection : question",
    "pct_complex_reflection": "% complex reflections",
    "pct_open_question": "% open questions",
    "technical_global": "Technical global (est.)",
    "relational_global": "Relational global (est.)",
    "change_talk_share": "Change talk share",
    "practitioner_talk_share": "Practitioner talk share",
    "mi_adherent": "MI-adherent",
    "mi_non_adherent": "MI-non-adherent",
}


#: MITI measures by unit. Counts, percentages, ratios, 0–1 shares and 1–5 global estimates
#: never share an axis: each unit is its own panel with its own scale.
MITI_UNITS: tuple[tuple[str, tuple[str, ...], tuple[float, float] | None], ...] = (
    ("Reflections per question (ratio)", ("reflection_to_question",), None),
    ("Percent of questions / reflections", ("pct_open_question", "pct_complex_reflection"),
     (0.0, 100.0)),
    ("MI-adherent / non-adherent (count per session)", ("mi_adherent", "mi_non_adherent"),
     None),
    ("Share of talk (0–1)", ("change_talk_share", "practitioner_talk_share"), (0.0, 1.0)),
    ("Global estimates (1–5)", ("technical_global", "relational_global"), (1.0, 5.0)),
)


def miti_panels(measures: list[str]) -> list[tuple[str, list[str], tuple[float, float] | None]]:
    """The unit panels needed for ``measures`` (in ``MITI_UNITS`` order; unknown ones last,
    one panel each, so a new measure is never forced onto another unit's axis)."""
    panels = []
    known: set[str] = set()
    for title, group, limits in MITI_UNITS:
        known.update(group)
        present = [m for m in group if m in measures]
        if present:
            panels.append((title, present, limits))
    panels += [(_label(m), [m], None) for m in measures if m not in known]
    return panels


def _label(measure: str) -> str:
    return PRINCIPLE_LABELS.get(measure) or MITI_LABELS.get(measure) or measure.replace("_", " ")


def _main_group(df: pd.DataFrame) -> pd.DataFrame:
    """One group to plot: a chosen team, else the whole service, else a worker's own."""
    if df.empty:
        return df
    groups = list(dict.fromkeys(df["group"]))
    pick = "service" if "service" in groups else groups[0]
    return df[df["group"] == pick]


def _empty(title: str, text: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, color="#64748b")
    ax.set_title(title, loc="left", fontsize=11)
    return fig


def _miti_trend(monthly: pd.DataFrame, title: str) -> Figure:
    panels = miti_panels(sorted(monthly["measure"].unique()))
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.4, 0.4 + 1.55 * len(panels)),
                             layout="constrained", sharex=True, squeeze=False)
    for ax, (unit, measures, limits) in zip(axes[:, 0], panels, strict=True):
        for measure in measures:
            m = monthly[monthly["measure"] == measure].sort_values("period")
            ax.plot(m["period"], m["mean"], marker="o", label=_label(measure))
        if limits:
            ax.set_ylim(*limits)
        ax.set_title(unit, loc="left", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(title, x=0.02, ha="left", fontsize=11)
    return fig


def _miti_spread(overall: pd.DataFrame) -> Figure:
    panels = miti_panels(sorted(overall["measure"].unique()))
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.4, 0.4 + 1.3 * len(panels)),
                             layout="constrained", squeeze=False)
    for ax, (unit, measures, limits) in zip(axes[:, 0], panels, strict=True):
        part = overall.set_index("measure").loc[measures]
        y = list(range(len(part)))
        ax.hlines(y, part["min"], part["max"], color="#94a3b8", linewidth=4, alpha=0.6)
        ax.plot(part["median"], y, "|", color="#0f172a", markersize=12, label="median")
        ax.plot(part["mean"], y, "o", color="#1d4ed8", label="mean")
        ax.set_yticks(y, [_label(m) for m in measures], fontsize=8)
        ax.set_ylim(-0.7, len(part) - 0.3)
        if limits:
            ax.set_xlim(*limits)
        ax.set_title(unit, loc="left", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].legend(fontsize=7, frameon=False, loc="upper right")
    fig.suptitle("Spread across sessions (range, median, mean)", x=0.02, ha="left", fontsize=11)
    return fig


def trend_figure(df: pd.DataFrame, kind: str, title: str = "Trend by month") -> Figure:
    """Mean per month: principle scores on one 1–5 axis; MITI one panel per unit."""
    g = _main_group(df)
    monthly = g[g["period"] != "all"] if not g.empty else g
    if monthly.empty:
        return _empty(title, "Not enough reviewed sessions per month yet (at least 3).")
    if kind == "miti":
        return _miti_trend(monthly, title)
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    for measure, m in monthly.groupby("measure"):
        m = m.sort_values("period")
        ax.plot(m["period"], m["mean"], marker="o", label=_label(measure))
    if kind == "principle":
        ax.set_ylim(1, 5)
        ax.set_ylabel("mean confirmed score (1–5)")
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig


def distribution_figure(df: pd.DataFrame, kind: str) -> Figure:
    """Range, median and mean across sessions; MITI one panel per unit (as ``trend_figure``)."""
    g = _main_group(df)
    overall = g[g["period"] == "all"] if not g.empty else g
    if overall.empty:
        return _empty("Spread across sessions", "Not enough reviewed sessions yet (at least 3).")
    if kind == "miti":
        return _miti_spread(overall)
    overall = overall.sort_values("measure")
    labels = [_label(m) for m in overall["measure"]]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    y = range(len(overall))
    ax.hlines(list(y), overall["min"], overall["max"], color="#94a3b8", linewidth=4, alpha=0.6)
    ax.plot(overall["median"], list(y), "|", color="#0f172a", markersize=14, label="median")
    ax.plot(overall["mean"], list(y), "o", color="#1d4ed8", label="mean")
    ax.set_yticks(list(y), labels, fontsize=8.5)
    if kind == "principle":
        ax.set_xlim(0.8, 5.2)
    ax.set_title("Spread across sessions (range, median, mean)", loc="left", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return fig


def reflection_prompts(df: pd.DataFrame, kind: str) -> str:
    """A few open questions drawn from the figures, for a team discussion."""
    g = _main_group(df)
    if g.empty:
        return (
            "*Not enough reviewed sessions to show yet — figures appear once a group has at "
            "least 3 sessions with confirmed scores.*"
        )
    overall = g[g["period"] == "all"].sort_values("mean")
    n = int(overall["n_sessions"].max()) if not overall.empty else 0
    lines = [f"**Prompts for reflection** (from {n} reviewed sessions)", ""]
    if kind == "principle" and len(overall) >= 2:
        top, low = overall.iloc[-1], overall.iloc[0]
        lines.append(
            f"- **{_label(top['measure'])}** is where recorded practice looks strongest "
            f"(mean {top['mean']:.1f}). What makes that possible in visits, and how is it shared?"
        )
        lines.append(
            f"- **{_label(low['measure'])}** looks hardest (mean {low['mean']:.1f}). What gets "
            "in the way during visits, and what support would help?"
        )
        spread = overall.assign(width=overall["max"] - overall["min"]).sort_values("width")
        wide = spread.iloc[-1]
        lines.append(
            f"- **{_label(wide['measure'])}** varies most between sessions "
            f"({wide['min']:.1f}–{wide['max']:.1f}). What differs between the visits where it "
            "goes well?"
        )
    monthly = g[g["period"] != "all"]
    if monthly["period"].nunique() >= 2:
        first, last = sorted(monthly["period"].unique())[0], sorted(monthly["period"].unique())[-1]
        a = monthly[monthly["period"] == first].set_index("measure")["mean"]
        b = monthly[monthly["period"] == last].set_index("measure")["mean"]
        change = (b - a).dropna()
        if not change.empty:
            m = change.abs().idxmax()
            lines.append(
                f"- **{_label(m)}** moved from {a[m]:.1f} ({first}) to {b[m]:.1f} ({last}). "
                "What changed in practice, supervision or caseloads?"
            )
    lines.append(
        "- Which one example from the exemplar library would the team like to learn from next?"
    )
    return "\n".join(lines)
