"""Accuracy on a service's own recordings: the machine transcript against what evaluators
made of it (WER, DER, word speaker error) and the suggested codes against the confirmed
ones (Cohen's kappa), per corrected session and overall; and the corrected session as
STM + RTTM, so a service's corrected sessions become a test set that grows by itself, or
as ELAN .eaf / Praat .TextGrid for the annotation tools researchers already use.

A session counts once an evaluator has corrected its transcript or marked it reviewed (a
reviewed session with no correction says the machine transcript was right).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from msw_audio.errors import InputError
from msw_audio.records import Turn, Word
from msw_audio.review.auth import User
from msw_audio.review.core import StoreCore, _iso, _parse_date, _visible
from msw_audio.review.db import Correction, Recording, SessionRow, Suggestion, UtteranceRow

#: Collar (seconds) of the DER: reference turns here are utterance spans, whose ends are
#: word times, not hand-marked boundaries.
DER_COLLAR = 0.25
#: What ``export_transcript`` makes: NIST STM / RTTM, ELAN .eaf, Praat .TextGrid.
TRANSCRIPT_FORMATS = ("stm", "rttm", "eaf", "textgrid")


class Accuracy(StoreCore):
    """Machine vs evaluator: ``accuracy_report`` and ``export_transcript``."""

    def accuracy_report(self, user: User, since: date | str | None = None) -> dict[str, Any]:
        """``{"sessions": [per session], "overall": {...}}`` over the sessions ``user`` sees.

        Each entry: ``wer`` (machine words vs corrected words), ``der`` (machine diarization
        turns vs the corrected lines' speaker spans, collar ``DER_COLLAR``),
        ``word_speaker_error`` (machine words given to the wrong corrected speaker), ``kappa``
        (top suggestion vs confirmed code, on confirmed lines) with the counts behind them.
        ``overall`` pools words and lines (corpus WER, pooled kappa) and weights DER by
        reference speech time.
        """
        user.require("agreement.view")
        when = _parse_date(since) if since else None
        with self.rtx() as s:
            corrected = set(s.scalars(select(Correction.session_id).where(
                Correction.undone_at.is_(None))))
            q = _visible(select(SessionRow), user)
            rows = [r for r in s.scalars(q.order_by(SessionRow.id))
                    if r.id in corrected or r.status == "reviewed"]
            if when is not None:
                rows = [r for r in rows if (r.updated_at or datetime.min).date() >= when]
            items = []
            for r in rows:
                session = self._session_from_rows(s, r)
                top = {g.utterance_id: g.code for g in s.scalars(select(Suggestion).where(
                    Suggestion.session_id == r.id, Suggestion.rank == 0))}
                confirmed = dict(s.execute(select(UtteranceRow.utterance_id,
                                                  UtteranceRow.confirmed_code).where(
                    UtteranceRow.session_id == r.id,
                    UtteranceRow.confirmed_code.is_not(None))).all())
                machine = r.machine or {
                    "utterances": [{"text": u.text, "speaker": u.speaker, "start": u.start,
                                    "end": u.end, "words": [w.__dict__ for w in u.words]}
                                   for u in session.utterances],
                    "turns": r.turns or []}
                items.append(_measure(r, session, machine, top, confirmed))
        return {"sessions": items, "overall": _overall(items)}

    def export_transcript(self, session_id: str, user: User,
                          formats: Iterable[str] = ("stm", "rttm")) -> dict[str, str]:
        """The corrected session in each of ``formats`` (``TRANSCRIPT_FORMATS``), by name.

        STM and RTTM label speakers by id; ELAN .eaf and Praat .TextGrid have a tier per
        speaker named by role and id, and a codes tier beside it (``speech.annotation_tools``).
        One audit row names the formats. A login without ``identity.view`` gets the text
        redacted like every other read (``review.pseudonyms``).
        """
        from msw_audio.speech import annotation_tools
        from msw_audio.speech.writers import to_rttm, to_stm, utterance_turns

        wanted = list(dict.fromkeys(formats))
        unknown = [f for f in wanted if f not in TRANSCRIPT_FORMATS]
        if unknown or not wanted:
            raise InputError(f"transcript formats are {', '.join(TRANSCRIPT_FORMATS)}; "
                             f"not {', '.join(unknown) or 'none'}")
        user.require("agreement.view")
        with self.tx() as s:
            row = self._session_row(s, session_id, user=user)
            session = self._shield_session(s, user, row, self._session_from_rows(s, row))
            codes = [(c.id, c.label) for c in self._codebook_of(row.models).codes]
            rec = s.get(Recording, row.recording_sha256)
            media = f"{session_id}.{rec.ext.lstrip('.')}" if rec is not None and rec.ext \
                else None
            self.audit(s, user, "export.transcript", "session", session_id,
                       formats=",".join(wanted))
        render = {
            "stm": lambda: to_stm(session, uri=session_id),
            "rttm": lambda: to_rttm(utterance_turns(session), uri=session_id),
            "eaf": lambda: annotation_tools.to_eaf(session, codes=codes, media=media),
            "textgrid": lambda: annotation_tools.to_textgrid(session),
        }
        return {f: render[f]() for f in wanted}


def _words(utterances: list[dict[str, Any]]) -> list[Word]:
    out = []
    for u in utterances:
        words = u.get("words") or []
        if words:
            out += [Word(**{**w, "speaker": w.get("speaker") or u["speaker"]}) for w in words]
        else:
            out += [Word(u["start"], u["end"], t, 1.0, u["speaker"]) for t in u["text"].split()]
    return sorted(out, key=lambda w: (w.start, w.end))


def _measure(row: SessionRow, session: Any, machine: dict[str, Any], top: dict[str, str],
             confirmed: dict[str, str]) -> dict[str, Any]:
    import jiwer

    from msw_audio.speech.diarize import turns_to_annotation
    from msw_audio.speech.evaluation import der, normalise_text, word_speaker_error
    from msw_audio.speech.writers import utterance_turns

    utts = sorted(session.utterances, key=lambda u: (u.start, u.end))
    ref_text = normalise_text(" ".join(u.text for u in utts))
    hyp_utts = sorted(machine.get("utterances") or [], key=lambda u: (u["start"], u["end"]))
    hyp_text = normalise_text(" ".join(u["text"] for u in hyp_utts))
    n_ref = len(ref_text.split())
    out = jiwer.process_words(ref_text, hyp_text) if ref_text and hyp_text else None
    errors = (out.substitutions + out.deletions + out.insertions) if out else n_ref
    reference = [(t, u.speaker) for u in utts for t in normalise_text(u.text).split()]
    wse = word_speaker_error(reference, _words(hyp_utts)) if reference else float("nan")
    ref_turns = utterance_turns(session)
    hyp_turns = [Turn(**t) for t in (machine.get("turns") or [])] or [
        Turn(u["start"], u["end"], u["speaker"]) for u in hyp_utts if u["end"] > u["start"]]
    speech = sum(t.end - t.start for t in ref_turns)
    d = (der(turns_to_annotation(ref_turns, uri=row.id), hyp_turns, collar=DER_COLLAR)
         if ref_turns and hyp_turns else float("nan"))
    pairs = [(confirmed[u], top[u]) for u in confirmed if u in top]
    return {
        "session_id": row.id, "title": row.title, "team": row.team, "date": _iso(row.date),
        "status": row.status, "wer": errors / n_ref if n_ref else float("nan"),
        "word_errors": errors, "ref_words": n_ref, "der": d, "speech_seconds": round(speech, 3),
        "word_speaker_error": wse, "kappa": _kappa(pairs), "confirmed_lines": len(pairs),
        "agreement": (sum(a == b for a, b in pairs) / len(pairs)) if pairs else float("nan"),
        "_pairs": pairs,
    }


def _kappa(pairs: list[tuple[str, str]]) -> float:
    if not pairs:
        return float("nan")
    from sklearn.metrics import cohen_kappa_score

    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    if len(set(a) | set(b)) < 2:
        return 1.0 if a == b else 0.0
    return float(cohen_kappa_score(a, b))


def _overall(items: list[dict[str, Any]]) -> dict[str, Any]:
    import math

    pairs = [p for it in items for p in it.pop("_pairs")]
    words = sum(it["ref_words"] for it in items)
    errors = sum(it["word_errors"] for it in items)
    timed = [it for it in items if not math.isnan(it["der"]) and it["speech_seconds"] > 0]
    speech = sum(it["speech_seconds"] for it in timed)
    wse = [it for it in items if not math.isnan(it["word_speaker_error"])]
    return {
        "sessions": len(items), "ref_words": words,
        "wer": errors / words if words else float("nan"),
        "der": (sum(it["der"] * it["speech_seconds"] for it in timed) / speech) if speech
        else float("nan"),
        "word_speaker_error": (sum(it["word_speaker_error"] * it["ref_words"] for it in wse)
                               / max(1, sum(it["ref_words"] for it in wse))) if wse
        else float("nan"),
        "kappa": _kappa(pairs), "confirmed_lines": len(pairs),
        "agreement": (sum(a == b for a, b in pairs) / len(pairs)) if pairs else float("nan"),
    }
