"""The coach library: starred exemplars first, then confirmed good practice worth quoting,
and practice-note handouts written into the data folder.

Why not every confirmed good-practice code: "Busy." confirmed as a simple reflection is
correct coding but no example for a coaching conversation. The library lists what a
person chose (stars, with a note) first, then confirmed good-practice codes of at least
``MIN_WORDS`` words that are not backchannels. Stars are shared within the teams a login
sees (the library is a team's), audited, and erased with their session.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select

from msw_audio.errors import InputError
from msw_audio.records import PRINCIPLES
from msw_audio.review.auth import User
from msw_audio.review.core import _iso, _not_blind, _visible
from msw_audio.review.db import (
    ExemplarStar,
    PrincipleScore,
    SessionRow,
    SpeakerRow,
    UtteranceRow,
)
from msw_audio.review.handouts import (
    practice_note_markdown,
    practice_note_pdf,
    redactor,
)
from msw_audio.review.pseudonyms import Pseudonyms

#: A confirmed line needs at least this many words to be offered as an example.
MIN_WORDS = 5
#: Lines that are only these words are listening noises, not examples (any length).
BACKCHANNEL_WORDS = frozenset(
    "mm mmm hmm mhm uh um huh yeah yes yep ok okay right sure alright no oh ah aha".split()
)
MAX_NOTE = 1000
HANDOUT_FORMATS = ("md", "pdf")


def word_count(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9'’]+", text or ""))


def is_quotable(text: str) -> bool:
    """At least ``MIN_WORDS`` words and not only backchannel words ("Mm hmm. Yeah, right")."""
    words = [w.lower() for w in re.findall(r"[A-Za-z0-9'’]+", text or "")]
    return len(words) >= MIN_WORDS and not all(w in BACKCHANNEL_WORDS for w in words)


class Library(Pseudonyms):
    """Stars, the ordered coach library, and practice-note handouts."""

    # ------------------------------------------------------------------ stars
    def star_exemplar(self, session_id: str, utterance_id: str, user: User,
                      note: str = "") -> None:
        """Star one utterance (or change the note of the user's star); audited."""
        user.require("exemplars.star")
        note = (note or "").strip()
        if len(note) > MAX_NOTE:
            raise InputError(f"note too long: at most {MAX_NOTE} characters")
        with self.tx() as s:
            self._session_row(s, session_id, user=user)
            self._utterance_exists(s, session_id, utterance_id)
            star = s.scalar(select(ExemplarStar).where(
                ExemplarStar.session_id == session_id,
                ExemplarStar.utterance_id == utterance_id,
                ExemplarStar.user_name == user.name))
            old = "starred" if star else "unstarred"
            if star is None:
                star = ExemplarStar(session_id=session_id, utterance_id=utterance_id,
                                    user_name=user.name)
                s.add(star)
            star.note = note
            self.audit(s, user, "exemplar.star", "session", session_id, target=utterance_id,
                       old=old, new="starred", note_changed=bool(note))

    def unstar_exemplar(self, session_id: str, utterance_id: str, user: User) -> None:
        """Remove the user's own star (others' stars stay); audited."""
        user.require("exemplars.star")
        with self.tx() as s:
            self._session_row(s, session_id, user=user)
            star = s.scalar(select(ExemplarStar).where(
                ExemplarStar.session_id == session_id,
                ExemplarStar.utterance_id == utterance_id,
                ExemplarStar.user_name == user.name))
            if star is None:
                raise InputError(f"no star of yours on {utterance_id!r} in {session_id!r}")
            s.delete(star)
            self.audit(s, user, "exemplar.unstar", "session", session_id, target=utterance_id,
                       old="starred", new="unstarred")

    def _utterance_exists(self, s: Any, session_id: str, utterance_id: str) -> None:
        found = s.scalar(select(UtteranceRow.id).where(
            UtteranceRow.session_id == session_id, UtteranceRow.utterance_id == utterance_id))
        if found is None:
            raise InputError(f"no utterance {utterance_id!r} in session {session_id!r}")

    # ------------------------------------------------------------------ the library
    def library(self, user: User, query: str | None = None, code: str | None = None,
                team: str | None = None, worker: str | None = None,
                principle: str | None = None, context: int = 1,
                limit: int = 200) -> list[dict[str, Any]]:
        """Starred lines first (newest star first), then confirmed good-practice lines
        worth quoting (``is_quotable``), in session and time order.

        ``query``: a case-insensitive piece of the line's text or a star's note. ``code``:
        only lines confirmed as that code. Sessions the user is coding blind are left out
        (they show confirmed codes). ``principle``: only evidence lines of sessions whose
        confirmed score on it is 4 or more.
        """
        user.require("exemplars.view")
        needle = (query or "").strip().lower()
        good = set(self.codebook.group("good_practice"))
        with self.rtx() as s:
            q = _not_blind(_visible(select(SessionRow), user), user)
            if team:
                q = q.where(SessionRow.team == team)
            if worker:
                q = q.where(SessionRow.worker == worker)
            sessions = {r.id: r for r in s.scalars(q)}
            if not sessions:
                return []
            stars: dict[tuple[str, str], list[ExemplarStar]] = {}
            for st in s.scalars(select(ExemplarStar)
                                .where(ExemplarStar.session_id.in_(sessions))
                                .order_by(ExemplarStar.created_at.desc(), ExemplarStar.id.desc())):
                stars.setdefault((st.session_id, st.utterance_id), []).append(st)
            codes = (code,) if code else tuple(good)
            confirmed = list(s.scalars(
                select(UtteranceRow).where(UtteranceRow.session_id.in_(sessions),
                                           UtteranceRow.confirmed_code.in_(codes))
                .order_by(UtteranceRow.session_id, UtteranceRow.idx)))
            picks: list[tuple[str, str]] = list(stars)
            if principle:
                if principle not in PRINCIPLES:
                    raise InputError(f"unknown principle {principle!r}")
                evidence = {
                    (p.session_id, ev.get("utterance_id"))
                    for p in s.scalars(select(PrincipleScore).where(
                        PrincipleScore.principle == principle, PrincipleScore.confirmed >= 4,
                        PrincipleScore.session_id.in_(sessions)))
                    for ev in p.evidence or [] if isinstance(ev, dict)
                }
                picks = [p for p in picks if p in evidence]
                confirmed = [u for u in confirmed if (u.session_id, u.utterance_id) in evidence]
            picks += [(u.session_id, u.utterance_id) for u in confirmed
                      if (u.session_id, u.utterance_id) not in stars and is_quotable(u.text)]
            out: list[dict[str, Any]] = []
            cache: dict[str, tuple[list[UtteranceRow], dict[str, str]]] = {}
            for sid, uid in picks:
                rows, roles = self._rows_and_roles(s, sid, cache)
                pos = next((i for i, r in enumerate(rows) if r.utterance_id == uid), None)
                if pos is None:
                    continue
                u = rows[pos]
                mine = stars.get((sid, uid), [])
                if code and u.confirmed_code != code:
                    continue
                notes = [st.note for st in mine if st.note]
                if needle and needle not in (u.text or "").lower() and not any(
                        needle in n.lower() for n in notes):
                    continue
                srow = sessions[sid]
                out.append({
                    "session_id": sid, "title": srow.title, "worker": srow.worker,
                    "team": srow.team, "date": _iso(srow.date), "utterance_id": uid,
                    "start": u.start, "end": u.end, "speaker": u.speaker_id,
                    "role": roles.get(u.speaker_id, "other"), "text": u.text,
                    "code": u.confirmed_code, "starred": bool(mine),
                    "starred_by_me": any(st.user_name == user.name for st in mine),
                    "stars": [{"by": st.user_name, "note": st.note, "at": _iso(st.created_at)}
                              for st in mine],
                    "context": [
                        {"utterance_id": c.utterance_id, "start": c.start, "end": c.end,
                         "speaker": c.speaker_id, "role": roles.get(c.speaker_id, "other"),
                         "text": c.text, "code": c.confirmed_code,
                         "is_exemplar": c.utterance_id == uid}
                        for c in rows[max(0, pos - context): pos + context + 1]
                    ],
                })
                if len(out) >= limit:
                    break
            return out

    def _rows_and_roles(self, s: Any, sid: str, cache: dict) -> tuple[list[UtteranceRow],
                                                                        dict[str, str]]:
        if sid not in cache:
            rows = list(s.scalars(select(UtteranceRow).where(UtteranceRow.session_id == sid)
                                  .order_by(UtteranceRow.idx)))
            roles = {k.speaker_id: k.role for k in
                     s.scalars(select(SpeakerRow).where(SpeakerRow.session_id == sid))}
            cache[sid] = (rows, roles)
        return cache[sid]

    # ------------------------------------------------------------------ handouts
    def handout_items(self, user: User, picks: list[dict[str, str]]) -> list[dict[str, Any]]:
        """The shortlisted lines as a handout shows them: one line of context either side,
        names taken out (``review.handouts``), the worker named only to that worker."""
        user.require("exemplars.star")
        if not isinstance(picks, list):
            raise InputError("items must be a list of {session_id, utterance_id}")
        wanted = [(str(p.get("session_id", "")), str(p.get("utterance_id", ""))) for p in picks
                  if isinstance(p, dict)]
        if not wanted:
            raise InputError("nothing is shortlisted: tick “Add to shortlist” on the examples "
                             "you want first (nothing was exported)")
        if len(wanted) > 50:
            raise InputError("a handout takes at most 50 examples")
        out = []
        with self.rtx() as s:
            cache: dict[str, tuple[list[UtteranceRow], dict[str, str]]] = {}
            scrub: dict[str, Any] = {}
            for sid, uid in wanted:
                row = self._session_row(s, sid, user=user)
                rows, roles = self._rows_and_roles(s, sid, cache)
                pos = next((i for i, r in enumerate(rows) if r.utterance_id == uid), None)
                if pos is None:
                    raise InputError(f"no utterance {uid!r} in session {sid!r}")
                if sid not in scrub:
                    # names in the text: the one redaction module every export uses
                    # (``review.redaction``, role tokens); then the family's pseudonym as
                    # a phrase ("Family D"), which is no person's name
                    family = (row.family or "").strip()
                    phrase = redactor({family} | {w for w in family.split() if len(w) > 1} - {
                        "Family", "family", "The", "the"})
                    scrub[sid] = _chain(self._redactor(s, row).text, phrase)
                clean = scrub[sid]
                u = rows[pos]
                notes = [clean(st.note) for st in s.scalars(select(ExemplarStar).where(
                    ExemplarStar.session_id == sid, ExemplarStar.utterance_id == uid))
                    if st.note]
                label = self._codebook_of(row.models).label(u.confirmed_code) if u.confirmed_code \
                    else ""
                out.append({
                    "session_id": sid, "utterance_id": uid, "start": u.start,
                    "label": label, "date": _iso(row.date),
                    "worker": row.worker if row.worker and row.worker == user.name else "",
                    "notes": notes,
                    "context": [
                        {"start": c.start, "role": roles.get(c.speaker_id, "other"),
                         "text": clean(c.text), "is_exemplar": c.utterance_id == uid}
                        for c in rows[max(0, pos - 1): pos + 2]
                    ],
                })
        return out

    def write_handout(self, user: User, picks: list[dict[str, str]], fmt: str = "md") -> Path:
        """Write a practice note of the shortlisted lines; returns its path.

        The file lives in the data folder under ``handouts/<session>/`` of every session it
        quotes (owner-only, like the rest of the data), so erasing any one of them removes
        it (``Erasure.erase_session``); never in /tmp.
        """
        if fmt not in HANDOUT_FORMATS:
            raise InputError(f"unknown handout format {fmt!r}: use md or pdf")
        items = self.handout_items(user, picks)
        name = f"practice-note-{secrets.token_hex(6)}.{fmt}"
        sessions = list(dict.fromkeys(ex["session_id"] for ex in items))
        first = self.paths.handout_dir(sessions[0]) / name
        first.parent.mkdir(parents=True, exist_ok=True)
        for folder in (self.paths.handouts, first.parent):
            try:
                folder.chmod(0o700)
            except OSError:
                pass
        if fmt == "md":
            first.write_text(practice_note_markdown(items), encoding="utf-8")
        else:
            practice_note_pdf(items, first)
        for sid in sessions[1:]:
            copy = self.paths.handout_dir(sid) / name
            copy.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            copy.write_bytes(first.read_bytes())
        with self.tx() as s:
            for sid in sessions:
                self.audit(s, user, "handout.export", "session", sid, format=fmt,
                           n_examples=len(items), file=name)
        return first

    def _remove_handouts(self, session_id: str) -> None:
        """Every handout quoting ``session_id``, wherever its copies are (erasure)."""
        import shutil

        folder = self.paths.handout_dir(session_id)
        if not folder.is_dir():
            return
        names = {f.name for f in folder.iterdir()}
        shutil.rmtree(folder, ignore_errors=True)
        if self.paths.handouts.is_dir():
            for other in self.paths.handouts.iterdir():
                for name in names:
                    (other / name).unlink(missing_ok=True)


def _chain(*steps: Any) -> Any:
    """One text -> text function applying ``steps`` in order."""
    def run(text: str | None) -> str:
        out = text or ""
        for step in steps:
            out = step(out)
        return out
    return run
