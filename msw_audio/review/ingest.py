"""Ingest: a processed recording becomes a session (content-addressed audio)."""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from msw_audio.errors import InputError
from msw_audio.records import Session
from msw_audio.review.auth import (
    User,
    system_user,
)
from msw_audio.review.core import StoreCore, _iso, _model_version, _parse_date
from msw_audio.review.db import (
    PrincipleScore,
    Recording,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UtteranceRow,
)
from msw_audio.review.paths import _check_sha, safe_ext, safe_name

#: Largest recording ingest copies (the upload limit's default, 2 GiB).
MAX_RECORDING_BYTES = 2 * 2**30


def _read_session(out_dir: Path) -> Session:
    path = out_dir / "session.json"
    if not path.is_file():
        raise InputError(f"{out_dir} has no session.json (is it a `msw-audio process` output?)")
    try:
        session = Session.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a valid session.json: {exc}") from None
    why = _malformed(session)
    if why:
        raise InputError(f"{path} is not a valid session.json: {why}")
    return session


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _malformed(session: Session) -> str | None:
    """Why a parsed session.json cannot be stored, or None. Why here: a time that is not a
    number, or a text that is not a string, would otherwise fail deep inside the database
    insert, whose error quotes every line of the transcript. Names ids, never content."""
    for u in session.utterances:
        if not isinstance(u.id, str) or not u.id:
            return "an utterance has no id"
        if not (_number(u.start) and _number(u.end)) or u.end < u.start:
            return f"utterance {u.id[:40]!r}: start and end must be numbers, end ≥ start"
        if not isinstance(u.text, str) or not isinstance(u.speaker, str):
            return f"utterance {u.id[:40]!r}: text and speaker must be strings"
        if any(not (_number(w.start) and _number(w.end)) for w in u.words):
            return f"utterance {u.id[:40]!r}: word times must be numbers"
    if any(not (_number(t.start) and _number(t.end)) for t in session.turns):
        return "speaker turn times must be numbers"
    return None


class Ingest(StoreCore):
    """Ingest: a processed recording becomes a session (content-addressed audio)."""

    def session_for_hash(self, sha256: str) -> str | None:
        """Id of the session made from this audio, if any (ingest is idempotent on it)."""
        with self.rtx() as s:
            return s.scalar(select(SessionRow.id).where(SessionRow.recording_sha256 == sha256))

    def ingest(
        self,
        out_dir: Path,
        actor: User | None = None,
        meta: dict[str, Any] | None = None,
        audio_path: Path | None = None,
        *,
        audio_from_session: bool = True,
    ) -> str:
        """Add a ``msw-audio process`` output folder; returns the session id.

        The same audio (sha256) always maps to the same session: a second ingest returns
        the existing id and changes nothing, so a re-run job or a double click is harmless.

        ``audio_from_session``: take the recording from session.json's ``audio.path`` when
        no ``audio_path`` is given. The CLI (an operator on this machine) does; the web form
        does not, since a session.json is a file anyone can write. Either way the recording
        must pass ``check_recording_file`` (a regular audio file, no link, no device).
        """
        from msw_audio.speech.audio import check_recording_file, sha256_file

        actor = actor or system_user("ingest")
        actor.require("session.ingest")
        meta = dict(meta or {})
        actor.require_team(meta.get("team"))
        session = _read_session(Path(out_dir))
        source = Path(audio_path) if audio_path else None
        if source is None and audio_from_session and session.audio.path:
            candidate = Path(session.audio.path)
            if os.path.lexists(candidate):
                source = candidate
        sha = (session.audio.sha256 or "").lower()
        if source is not None:
            source = check_recording_file(source, max_bytes=MAX_RECORDING_BYTES)
            actual = sha256_file(source)
            if sha and sha != actual:
                raise InputError(
                    f"audio {safe_name(source)!r} does not match session.json "
                    f"(sha256 {actual[:12]}... vs {sha[:12]}...)"
                )
            sha = actual
        _check_sha(sha)
        existing = self.session_for_hash(sha)
        if existing:
            return existing

        ext = safe_ext(source) if source else ""
        original = safe_name(meta.get("filename") or session.audio.path or "recording")
        if source is not None:
            target = self.paths.audio_file(sha, ext)
            if not target.exists():
                tmp = target.with_name(f".{sha}.{secrets.token_hex(4)}.partial")
                shutil.copyfile(source, tmp)
                os.replace(tmp, target)  # atomic: never a half-copied recording
        session_id = "s" + secrets.token_hex(6)
        when = _parse_date(meta.get("date"))
        title = str(meta.get("title") or "").strip() or " ".join(
            x for x in (str(meta.get("family") or "") or Path(original).stem, _iso(when) or "") if x
        )
        version = _model_version(session.models)
        try:
            with self.tx() as s:
                s.add(
                    Recording(
                        sha256=sha,
                        ext=ext,
                        has_audio=source is not None,
                        size_bytes=source.stat().st_size if source else None,
                        duration=session.audio.duration,
                        original_name=original,
                    )
                )
                row = SessionRow(
                    id=session_id,
                    recording_sha256=sha,
                    title=title[:255],
                    worker=str(meta.get("worker") or "")[:255],
                    team=str(meta.get("team") or "")[:255],
                    date=when,
                    family=str(meta.get("family") or "")[:255],
                    recording_type=str(meta.get("recording_type") or "")[:64],
                    language=session.language,
                    schema_version=session.schema_version,
                    duration=session.audio.duration,
                    models=session.models,
                    scores=session.scores,
                    turns=[t.__dict__ for t in session.turns],
                    created_by=actor.name,
                )
                s.add(row)
                s.flush()
                for spk in session.speakers:
                    s.add(
                        SpeakerRow(
                            session_id=session_id,
                            speaker_id=spk.id,
                            suggested_role=spk.role,
                            role=spk.role,
                            role_confidence=spk.role_confidence,
                            talk_time=spk.talk_time,
                        )
                    )
                for idx, utt in enumerate(session.utterances):
                    s.add(
                        UtteranceRow(
                            session_id=session_id,
                            utterance_id=utt.id,
                            idx=idx,
                            start=utt.start,
                            end=utt.end,
                            speaker_id=utt.speaker,
                            text=utt.text,
                            words=[w.__dict__ for w in utt.words],
                        )
                    )
                    for rank, c in enumerate(utt.codes):
                        s.add(
                            Suggestion(
                                session_id=session_id,
                                utterance_id=utt.id,
                                rank=rank,
                                code=c.code,
                                probability=float(c.probability),
                                source=c.source,
                                model_version=version,
                            )
                        )
                principles = (session.scores or {}).get("principles") or {}
                rubric = str((session.scores or {}).get("rubric_version") or "")
                for name, p in principles.items():
                    s.add(
                        PrincipleScore(
                            session_id=session_id,
                            principle=name,
                            suggested=p.get("value"),
                            confidence=p.get("confidence"),
                            evidence=list(p.get("evidence") or []),
                            reasons=list(p.get("reasons") or []),
                            rubric_version=rubric,
                        )
                    )
                self.audit(
                    s,
                    actor,
                    "session.ingest",
                    "session",
                    session_id,
                    n_utterances=len(session.utterances),
                )
        except IntegrityError:
            # another worker ingested the same audio a moment ago: theirs wins
            existing = self.session_for_hash(sha)
            if existing:
                return existing
            raise
        return session_id

