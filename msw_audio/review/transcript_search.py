"""Searching the transcripts of every session a login may see (the review screen's
"All sessions" search): words or a regular expression, each hit a line to open.

Why in the store: the team scope and the pseudonyms are the store's rules (``_visible``,
``Pseudonyms``), so a hit is exactly what the login's own reads would show — the same
sessions, the same redacted text and session title for a login without ``identity.view``.
The text is *matched as the login reads it*: a researcher searching a child's name finds
nothing, rather than learning which lines hold it.

Regular expressions run in the ``regex`` module with a time limit per line and for the whole
search (``PATTERN_TIMEOUT_S``, ``SEARCH_BUDGET_S``) and a length cap (``MAX_PATTERN``): a
pattern that backtracks catastrophically is stopped and reported, never left to hang a
worker thread. Python's own ``re`` has no time limit, hence ``regex``.
"""

from __future__ import annotations

import time
from typing import Any

import regex
from sqlalchemy import select

from msw_audio.errors import InputError
from msw_audio.review.auth import User
from msw_audio.review.core import _iso, _visible
from msw_audio.review.db import SessionRow, SpeakerRow, UtteranceRow

#: Longest query (words or pattern), in characters.
MAX_PATTERN = 200
#: Time one line's match may take before the pattern is refused (seconds).
PATTERN_TIMEOUT_S = 0.05
#: Time the whole search may take (seconds): past it the hits so far are returned, marked.
SEARCH_BUDGET_S = 2.0
#: Most hits one search returns.
MAX_HITS = 200


def compile_query(query: str, is_regex: bool) -> Any:
    """A case-insensitive matcher for ``query`` (a compiled pattern, or ``_Words``: all its
    words, in any order); ``InputError`` with the reason when it is empty, too long or not a
    valid expression."""
    text = (query or "").strip()
    if not text:
        raise InputError("type something to search for")
    if len(text) > MAX_PATTERN:
        raise InputError(f"the search is {len(text)} characters; at most {MAX_PATTERN}")
    if not is_regex:
        return _Words(text.split())
    try:
        return regex.compile(text, regex.IGNORECASE)
    except regex.error as exc:
        raise InputError(f"not a valid regular expression: {exc}") from None


class _Words:
    """Every word in the line, any order, ignoring case (plain substring tests: a pattern of
    look-aheads would rescan the line from every position). ``search`` answers like a
    compiled pattern's: a span (the first word's first place) or None."""

    def __init__(self, words: list[str]) -> None:
        self.words = [w.casefold() for w in words]

    def search(self, text: str, timeout: float | None = None) -> Any:
        low = text.casefold()
        if not all(w in low for w in self.words):
            return None
        if len(low) != len(text):  # casefolding changed the length ("ß" -> "ss"): no span
            return _Span(0, 0)
        i = low.find(self.words[0])
        return _Span(i, i + len(self.words[0]))


class _Span:
    def __init__(self, start: int, end: int) -> None:
        self._start, self._end = start, end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end


class TranscriptSearch:
    """``search_transcripts`` (mixed into ``Store``; uses ``StoreCore`` and ``Pseudonyms``)."""

    def search_transcripts(self, user: User, query: str, is_regex: bool = False,
                           limit: int = MAX_HITS) -> dict[str, Any]:
        """Lines of the sessions ``user`` may see whose text matches ``query``.

        Returns ``{"hits": [...], "sessions": n searched, "truncated": bool, "stopped":
        bool}``; each hit has the session's id, title and date, the line's id, start,
        speaker, role and text (as this login reads them), newest session first, lines in
        time order. No codes: a hit is a place to go, and blind coders search too.
        """
        user.require("session.view")
        pattern = compile_query(query, is_regex)
        limit = max(1, min(int(limit), MAX_HITS))
        deadline = time.monotonic() + SEARCH_BUDGET_S
        shielded = self.shielded(user)  # type: ignore[attr-defined]
        hits: list[dict[str, Any]] = []
        truncated = stopped = False
        with self.rtx() as s:  # type: ignore[attr-defined]
            rows = list(s.scalars(_visible(select(SessionRow), user)
                                  .order_by(SessionRow.date.desc(), SessionRow.created_at.desc(),
                                            SessionRow.id)))
            for row in rows:
                if len(hits) >= limit:
                    truncated = True
                    break
                text_of = self._redactor(s, row).text if shielded else None  # type: ignore[attr-defined]
                roles = {k.speaker_id: k.role for k in s.scalars(
                    select(SpeakerRow).where(SpeakerRow.session_id == row.id))}
                title = f"session {row.id}" if shielded else (row.title or row.id)
                # tuples, not ORM rows: no word lists loaded (the search reads text only)
                for uid, start, end, speaker, raw in s.execute(
                        select(UtteranceRow.utterance_id, UtteranceRow.start, UtteranceRow.end,
                               UtteranceRow.speaker_id, UtteranceRow.text)
                        .where(UtteranceRow.session_id == row.id).order_by(UtteranceRow.idx)):
                    text = text_of(raw or "") if text_of else (raw or "")
                    left = deadline - time.monotonic()
                    if left <= 0:
                        stopped = True
                        break
                    try:
                        found = pattern.search(text, timeout=min(PATTERN_TIMEOUT_S, left))
                    except TimeoutError:
                        raise InputError(
                            "this regular expression takes too long on a single line (it "
                            "backtracks): make it simpler, e.g. without nested repeats "
                            "like (a+)+") from None
                    if found is None:
                        continue
                    hits.append({"session_id": row.id, "title": title, "date": _iso(row.date),
                                 "team": row.team, "utterance_id": uid,
                                 "start": start, "end": end, "speaker": speaker,
                                 "role": roles.get(speaker, "other"), "text": text,
                                 "match": [found.start(), found.end()]})
                    if len(hits) >= limit:
                        break
                if stopped:
                    break
            return {"hits": hits, "sessions": len(rows), "truncated": truncated,
                    "stopped": stopped}
