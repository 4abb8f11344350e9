#!/usr/bin/env python3
"""How long the review screen's ELAN import takes on a 1,000-utterance session: the
preview (dry run) and applying 10 text edits and 10 moved boundaries, through the store
(``Store.import_annotations``, what ``POST /api/sessions/{id}/annotations`` calls).

Why: the preview runs on every file chosen, so it must feel immediate; applying makes one
correction per change (each journaled, retagged, rescored), so its cost grows with the
changes, not the session. Also times ``render.overlapping`` (the overlap lanes) on the same
session, which every opening of the pane now pays.

    .venv/bin/python benchmarks/import_annotations.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest_app import PASSWORD, demo_session, write_session_dir  # noqa: E402


def _edit(eaf_text: str, utts: list, n: int) -> bytes:
    """``n`` lines with a changed word and ``n`` other lines whose start moved 0.2 s earlier
    (into the pause before them), as an ELAN user's edits show in the file."""
    root = ET.fromstring(eaf_text.split("\n", 1)[1])
    slots = {t.get("TIME_SLOT_ID"): t for t in root.iter("TIME_SLOT")}
    anns = list(root.iter("ALIGNABLE_ANNOTATION"))
    by_start = {int(slots[a.get("TIME_SLOT_REF1")].get("TIME_VALUE")): a for a in anns}
    ordered = sorted(utts, key=lambda u: u.start)
    gaps = [u for p, u in zip(ordered, ordered[1:], strict=False) if u.start - p.end > 0.4]
    for u in gaps[:n]:
        slot = slots[by_start[round(u.start * 1000)].get("TIME_SLOT_REF1")]
        slot.set("TIME_VALUE", str(round(u.start * 1000) - 200))
    for u in gaps[n:2 * n]:
        a = by_start[round(u.start * 1000)]
        a.find("ANNOTATION_VALUE").text = (a.findtext("ANNOTATION_VALUE") or "") + " indeed"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode")).encode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="copies of the demo transcript")
    ap.add_argument("--changes", type=int, default=10, help="edits and moves, each")
    ap.add_argument("--runs", type=int, default=5, help="dry runs timed")
    args = ap.parse_args()

    from msw_audio.review.store import Store
    from msw_audio.web.render import overlapping, transcript_rows

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        store = Store.open(tmp_path / "data")
        store.add_user("bench", "evaluator", PASSWORD)
        user = store.get_user("bench")
        session = demo_session(n_repeat=args.repeat)
        sid = store.ingest(write_session_dir(session, tmp_path / "out"))
        current = store.get_session(sid, user)
        data = _edit(store.export_transcript(sid, user, ["eaf"])["eaf"], current.utterances,
                     args.changes)
        dry = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            report = store.import_annotations(sid, data, "eaf", user, dry_run=True)
            dry.append(time.perf_counter() - t0)
        kinds = [c["kind"] for c in report["changes"]]
        t0 = time.perf_counter()
        applied = store.import_annotations(sid, data, "eaf", user)
        apply_s = time.perf_counter() - t0
        rows = transcript_rows(store.get_session(sid, user), {})
        t0 = time.perf_counter()
        over = overlapping(rows)
        over_s = time.perf_counter() - t0
        store.close()
    print(f"\nELAN import on a {len(session.utterances)}-utterance session "
          f"({kinds.count('times')} moved boundaries, {kinds.count('text')} text edits)\n")
    print("| step | time |")
    print("|---|---|")
    print(f"| preview (dry run), median of {args.runs} | {statistics.median(dry) * 1000:.0f} ms |")
    print(f"| apply ({applied['applied']} applied, {len(applied['refused'])} refused) | "
          f"{apply_s:.2f} s |")
    print(f"| overlap lanes (`render.overlapping`, {len(over)} lines in overlap) | "
          f"{over_s * 1000:.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
