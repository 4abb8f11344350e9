"""Fleiss' κ and the segmentation measures (``review.agreement_stats``), and the double
coding report with a third (blind) coder and a corrected transcript.

Fleiss' κ is checked against Fleiss (1971)'s worked example as Wikipedia prints it
(10 subjects, 14 raters, 5 categories, κ = 0.210), against Scott's π for two raters, and
against scikit-learn's Cohen's κ where marginals are equal (then Scott's π = Cohen's κ);
statsmodels is not in this environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from msw_audio.review.agreement_stats import boundary_agreement, fleiss_kappa, overlap_ratio
from tests.conftest_app import PASSWORD, demo_session, make_store

# Wikipedia, "Fleiss' kappa", worked example: n_ij (rows: subjects, columns: categories)
_TABLE = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
          [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
          [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def test_fleiss_matches_the_worked_example():
    rows = [[c for c, n in enumerate(r) for _ in range(n)] for r in _TABLE]
    assert fleiss_kappa(rows) == pytest.approx(0.2099, abs=5e-4)


def test_fleiss_two_raters_is_scotts_pi_and_cohen_with_equal_marginals():
    from sklearn.metrics import cohen_kappa_score

    a = ["q", "q", "r", "r", "s", "q", "r", "s"]
    b = ["q", "r", "r", "q", "s", "q", "r", "s"]  # same label counts as a
    shares = {c: (a.count(c) + b.count(c)) / 16 for c in set(a + b)}
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / 8
    p_e = sum(v * v for v in shares.values())
    scott = (p_o - p_e) / (1 - p_e)
    rows = list(zip(a, b, strict=True))
    assert fleiss_kappa(rows) == pytest.approx(scott)
    assert fleiss_kappa(rows) == pytest.approx(cohen_kappa_score(a, b))
    assert fleiss_kappa([]) is None and fleiss_kappa([["x", "x"], ["x", "x"]]) is None
    with pytest.raises(ValueError):
        fleiss_kappa([["x", "y"], ["x"]])


def test_boundaries_and_overlap():
    a = [(0.0, 2.0), (2.0, 5.0), (5.0, 9.0)]
    b = [(0.1, 2.3), (2.3, 7.0), (7.0, 9.0)]
    got = boundary_agreement(a, b)  # 0,2,5,9 vs 0.1,2.3,7,9: 0~0.1, 2~2.3, 9~9
    assert (got["n_a"], got["n_b"], got["matched"]) == (4, 4, 3)
    assert got["agreement"] == pytest.approx(0.75)
    same = overlap_ratio(a, a)
    assert same["ratio"] == pytest.approx(1.0) and same["unpaired"] == 0
    ov = overlap_ratio([(0.0, 2.0)], [(1.0, 3.0), (5.0, 6.0)])
    assert ov["pairs"] == 1 and ov["unpaired"] == 1
    assert ov["ratio"] == pytest.approx((1 / 3) / 2)
    assert overlap_ratio([], [])["ratio"] is None


@pytest.fixture()
def three_coders(tmp_path: Path):
    store, sid = make_store(tmp_path / "data")
    store.add_user("bo", "evaluator", PASSWORD)
    store.add_user("cy", "evaluator", PASSWORD)
    yield store, sid
    store.close()


def test_report_gives_fleiss_for_a_third_blind_coder_and_segmentation(three_coders):
    store, sid = three_coders
    eva, bo, cy = (store.get_user(n) for n in ("eva", "bo", "cy"))
    utts = demo_session().utterances[:6]
    for u in utts:
        store.accept_code(sid, u.id, eva)
    store.assign_blind(sid, "bo", eva)
    store.assign_blind(sid, "cy", eva)  # a third coder: the assignment model allows it
    firsts = {u: d["code"] for u, d in store.get_decisions(sid, eva)["codes"].items()}
    ids = sorted(firsts)
    second = dict(firsts, **{ids[0]: "neutral"})
    third = dict(firsts, **{ids[1]: "neutral", ids[2]: "neutral"})
    for coder, codes in ((bo, second), (cy, third)):
        for uid, code in codes.items():
            store.set_code(sid, uid, code, coder)
    report = store.double_coding_report(eva, session_id=sid)
    rows = [[firsts[u], second[u], third[u]] for u in ids]
    fl = report["fleiss"]
    assert fl["n_coders"] == 3 and fl["n"] == len(ids)
    assert fl["kappa"] == pytest.approx(fleiss_kappa(rows))
    assert fl["sessions"][0]["session_id"] == sid
    assert report["segmentation"] == []  # not corrected yet: nothing to compare
    # a correction keeps the machine transcript: its segmentation is compared to the new one
    store.split_utterance(sid, utts[0].id, 1, eva)
    seg = store.double_coding_report(eva, session_id=sid)["segmentation"][0]
    assert seg["n_corrected"] == seg["n_machine"] + 1
    assert 0 < seg["boundaries"]["agreement"] < 1 and 0 < seg["overlap"]["ratio"] < 1
    # the Double coding tab says both
    from msw_audio.web.tab_double_coding import more_agreement_md

    text = more_agreement_md(store.double_coding_report(eva, session_id=sid))
    assert "Fleiss' κ" in text and "3 coders" in text and "machine vs corrected" in text
