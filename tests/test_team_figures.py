"""Team figures from a real store: MITI measures of different units never share an axis."""

from __future__ import annotations

import hashlib

from msw_audio.review.auth import system_user
from msw_audio.review.store import Store
from msw_audio.web.team import (
    MITI_UNITS,
    _label,
    distribution_figure,
    miti_panels,
    trend_figure,
)
from tests.conftest_app import demo_session, write_session_dir


def test_team_miti_plot_is_one_panel_per_unit(tmp_path):
    store = Store.open(tmp_path / "data")
    admin = system_user("test")
    for k in range(3):
        s = demo_session()
        s.audio.path = ""
        s.audio.sha256 = hashlib.sha256(f"visit{k}".encode()).hexdigest()
        sid = store.ingest(write_session_dir(s, tmp_path / f"out{k}"), actor=admin,
                           meta={"worker": "Sam", "team": "North", "date": f"2026-10-0{k + 1}"})
        store.confirm_score(sid, "empathy", 3.0 + k * 0.5, "", admin)
    df = store.team_summary(admin, team="North")
    miti = df[df["kind"] == "miti"]
    store.close()
    measures = sorted(miti["measure"].unique())
    assert {"pct_open_question", "mi_adherent", "reflection_to_question"} <= set(measures)
    unit_of = {_label(m): title for title, group, _ in MITI_UNITS for m in group}
    for fig in (trend_figure(miti, "miti"), distribution_figure(miti, "miti")):
        axes = fig.axes
        assert len(axes) == len(miti_panels(measures)) >= 4
        for ax in axes:
            title = ax.get_title(loc="left")
            lines = [ln.get_label() for ln in ax.get_lines() if ln.get_label() in unit_of]
            ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text() in unit_of]
            drawn = lines or ticks  # trend: one line per measure; spread: one row each
            assert drawn and {unit_of[x] for x in drawn} == {title}, (title, drawn)
        percent = next(ax for ax in axes if ax.get_title(loc="left").startswith("Percent"))
        assert (0.0, 100.0) in (percent.get_ylim(), percent.get_xlim())
    # principle scores keep their single 1–5 axis
    principle = df[df["kind"] == "principle"]
    assert len(trend_figure(principle, "principle").axes) == 1

