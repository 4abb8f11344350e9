"""Shared helpers for the store and jobs tests: real recordings, session folders, scans."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

from msw_audio.records import AudioInfo, CodeSuggestion, Session, Speaker, Turn, Utterance, Word

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MSW_SHARED", REPO / ".." / "shared"))
JFK = SHARED / "data" / "audio" / "jfk.flac"
DEMO = REPO / "msw_audio" / "demo" / "demo.ogg"

PRACTITIONER_LINES = [
    ("How have the mornings been since we last met?", "open_question"),
    ("So getting out of the door is where it all falls apart.", "complex_reflection"),
    ("You have kept going even when it was hard.", "affirm"),
    ("What would you like to try first?", "open_question"),
]
FAMILY_LINES = [
    ("Honestly it has been chaos, he won't get dressed.", "neutral"),
    ("I want it to be calmer for him.", "change_talk"),
    ("I don't think anything will change.", "sustain_talk"),
    ("Maybe the night before, getting things ready.", "change_talk"),
]


def build_session(sha256: str, audio_path: str = "", n: int = 8) -> Session:
    """A processed session (as ``msw-audio process`` writes it) for store-level tests."""
    utts = []
    for i in range(n):
        practitioner = i % 2 == 0
        text, code = (PRACTITIONER_LINES if practitioner else FAMILY_LINES)[(i // 2) % 4]
        alt = "closed_question" if practitioner else "neutral"
        utts.append(
            Utterance(
                id=f"u{i:04d}",
                start=2.0 * i,
                end=2.0 * i + 1.8,
                speaker="SPEAKER_00" if practitioner else "SPEAKER_01",
                text=text,
                words=[Word(2.0 * i, 2.0 * i + 0.4, text.split()[0], 0.9)],
                codes=[CodeSuggestion(code, 0.71), CodeSuggestion(alt, 0.2)],
            )
        )
    principles = {
        name: {
            "value": 3.5,
            "confidence": 0.6,
            "evidence": [
                {"utterance_id": "u0002", "start": 4.0, "end": 5.8, "text": "...", "why": "cue"}
            ],
            "reasons": ["reflections outnumber questions"],
        }
        for name in (
            "evocation",
            "empathy",
            "purposefulness",
            "autonomy",
            "collaboration",
            "child_focus",
            "clarity_about_concerns",
        )
    }
    return Session(
        audio=AudioInfo(path=audio_path, sha256=sha256, duration=2.0 * n),
        speakers=[
            Speaker("SPEAKER_00", "practitioner", 0.9, 8.0),
            Speaker("SPEAKER_01", "parent", 0.7, 7.0),
        ],
        utterances=utts,
        turns=[Turn(0.0, 1.8, "SPEAKER_00"), Turn(2.0, 3.8, "SPEAKER_01")],
        models={"tagger": {"name": "msw-tagger", "version": "0.1"}},
        scores={
            "rubric_version": "test",
            "miti": {"reflection_to_question": 1.5},
            "principles": principles,
        },
    )


def migration_head() -> str:
    """The newest Alembic revision shipped (parallel branches each add one)."""
    from alembic.script import ScriptDirectory

    from msw_audio.review.paths import MIGRATIONS_DIR

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def write_session_dir(out_dir: Path, session: Session) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "session.json").write_text(json.dumps(session.to_dict()), encoding="utf-8")
    return out_dir


def fake_sha(label: str) -> str:
    """A distinct audio hash for sessions that have no recording in the test."""
    return hashlib.sha256(label.encode()).hexdigest()


def scan_for(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """Which files under ``root`` mention each needle, in their bytes or their name."""
    hits: dict[str, list[str]] = {n: [] for n in needles}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for n in needles:
            if n.encode() in data or n in str(path.relative_to(root)):
                hits[n].append(str(path.relative_to(root)))
    return hits


def dump_rows_with(db_path: Path, needle: str) -> list[str]:
    """SQL dump lines of the SQLite database that contain ``needle``."""
    con = sqlite3.connect(db_path)
    try:
        return [line for line in con.iterdump() if needle in line]
    finally:
        con.close()
