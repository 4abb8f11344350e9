"""An ELAN .eaf or Praat .TextGrid, exported from this store and edited in ELAN or Praat,
applied back to the session as corrections (``msw-audio transcript-import``, or the
*Import .eaf / .TextGrid* control of the review screen: a preview first, then apply).

A line of the file is matched to a line of the store by its exact times (whole
milliseconds, as exported); a line whose times changed (a boundary moved in ELAN or Praat)
is matched to the store line of the same speaker tier it overlaps most, one to one, when
they share at least ``MIN_MOVED_IOU`` of their extent. For a matched line new times retime
it (``retime_utterance``: the same correction as dragging a waveform edge, with its rules —
no word left outside the line, no reaching over a neighbour), a different speaker tier
reassigns it, a different text edits it, and a bare code in its codes tier confirms that
code (a value left as ``"x (suggested 0.54)"`` is no decision). Each change goes through
the store's own method: permission, team scope, a reviewed session and a code that does
not fit the role are refused the same way as on the screen, each change is journaled
(undo) and audited, and the figures are recomputed.

Still refused, and why: a line of the file that overlaps no line of its tier enough (a new
line) is reported, not created — a line needs words with times from the recognizer, so new
lines come from splitting; lines absent from the file are left as they are (deleting talk
from a transcript is not something a file should do silently); a retime that would leave
a word outside the line is refused by ``retime_utterance`` (split or merge instead).

Edits made since the export are not overwritten: the file is compared against the store
as it is now, so the import needs the time the file was made, which is the importing
login's last audited export of the session in that format (``export.transcript``); a line
corrected or coded after it (by anyone) is refused as stale, and after a re-split of the
speakers every line is. Hence: export, edit, import, by the same login.

Hostile files: at most ``MAX_IMPORT_BYTES`` and ``MAX_IMPORT_LINES``; an .eaf must be XML
with no document type or entity declarations (ELAN writes none; they are how entity
expansion attacks work), a TextGrid must be Praat's text format, both UTF-8; anything
else is an ``InputError`` before any change is made.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

from sqlalchemy import or_, select

from msw_audio.errors import InputError, MswError
from msw_audio.records import Session, Utterance
from msw_audio.review.agreement_stats import boundary_agreement
from msw_audio.review.auth import User
from msw_audio.review.core import StoreCore, _iso
from msw_audio.review.db import AuditEntry, Correction, Decision
from msw_audio.speech import annotation_tools

#: Set while an import applies its changes: the sessions whose figures wait for its end.
_DEFERRED: ContextVar[set[str] | None] = ContextVar("msw_import_rescore", default=None)
#: Formats ``import_annotations`` reads (``speech.annotation_tools``).
IMPORT_FORMATS = ("eaf", "textgrid")
#: A 3-hour session exports to well under 2 MB; anything far larger is not one of ours.
MAX_IMPORT_BYTES = 20 * 1024 * 1024
#: A 3-hour session has ~3,000 lines; a file with far more is not one of ours.
MAX_IMPORT_LINES = 50_000
#: A moved line and a store line match when their overlap is at least this share of the
#: span the two cover together (a boundary moved by 1 s on a 3 s line keeps 0.75).
MIN_MOVED_IOU = 0.5


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _confirmed(u: Utterance) -> str | None:
    top = u.top_code
    return top.code if top is not None and top.source == "evaluator" else None


class AnnotationImport(StoreCore):
    """``import_annotations``: an edited export applied back as corrections."""

    def import_annotations(self, session_id: str, data: bytes, fmt: str, user: User,
                           dry_run: bool = False) -> dict[str, Any]:
        """Apply the file's differences to ``session_id``; ``dry_run``: only report them.

        Returns ``{"lines_in_file", "changes": [{"utterance_id", "kind", "old", "new"}],
        "applied", "refused": [change + "reason"], "skipped": [{"speaker", "start",
        "end", "text", "reason"}], "dry_run"}``.
        """
        user.require("session.edit")
        if fmt not in IMPORT_FORMATS:
            raise InputError(f"import formats are {', '.join(IMPORT_FORMATS)}, not {fmt!r}")
        if len(data) > MAX_IMPORT_BYTES:
            raise InputError(f"the file is {len(data)} bytes; at most {MAX_IMPORT_BYTES}")
        session = self.get_session(session_id, user)  # team scope first: 404 for another's
        _check_content(data, fmt)
        reader = annotation_tools.read_eaf if fmt == "eaf" else annotation_tools.read_textgrid
        try:
            lines = reader(data)
        except Exception as exc:  # pympi raises bare Exceptions on malformed input
            raise InputError(f"not a readable .{fmt} file: {str(exc)[:200]}") from None
        if len(lines) > MAX_IMPORT_LINES:
            raise InputError(f"the file has {len(lines)} lines; at most {MAX_IMPORT_LINES}")
        exported, stale = self._stale_since_export(session_id, fmt, user)
        changes, skipped = _differences(session, lines)
        refused: list[dict[str, Any]] = []
        applied = 0
        for change in list(changes):
            if stale is None or change["utterance_id"] in stale:
                changes.remove(change)
                refused.append({**change, "reason": f"line {change['utterance_id']} was "
                                f"edited since your export at {exported}"})
        if not dry_run:
            applied, failed = self._apply_all(session_id, changes, user)
            refused += failed
            with self.tx() as s:
                self.audit(s, user, "import.annotations", "session", session_id, format=fmt,
                           lines=len(lines), applied=applied, refused=len(refused),
                           skipped=len(skipped))
        return {"lines_in_file": len(lines), "changes": changes, "applied": applied,
                "refused": refused, "skipped": skipped, "dry_run": dry_run,
                "boundaries": boundary_agreement(
                    [(u.start, u.end) for u in session.utterances],
                    [(x.start_ms / 1000, x.end_ms / 1000) for x in lines])}

    def _rescore(self, s: Any, row: Any, evidence: bool) -> None:
        """While an import applies its changes the figures are recomputed once, at the end
        (``_apply_all``), not after each change: on a 1,000-line session a rescore is most
        of a correction's second, and the changes of one file are one action."""
        deferred = _DEFERRED.get()
        if deferred is not None and not evidence:
            deferred.add(row.id)
            return
        super()._rescore(s, row, evidence)  # type: ignore[misc]

    def _apply_all(self, session_id: str, changes: list[dict[str, Any]], user: User
                   ) -> tuple[int, list[dict[str, Any]]]:
        """Apply ``changes`` (the figures recomputed once, after the last)."""
        token = _DEFERRED.set(set())
        try:
            return self._apply_each(session_id, changes, user)
        finally:
            deferred = _DEFERRED.get()
            _DEFERRED.reset(token)
            if deferred:
                with self.tx() as s:
                    row = self._session_row(s, session_id, lock=True, user=user)
                    if row.scores:
                        self._rescore(s, row, evidence=False)

    def _apply_each(self, session_id: str, changes: list[dict[str, Any]], user: User
                    ) -> tuple[int, list[dict[str, Any]]]:
        """New times first, in passes (a line may move into the room its neighbour's move
        leaves, whichever comes first in the file), then the rest. A change to a line whose
        new times were refused is refused too (it was meant for those)."""
        applied = 0
        refused: list[dict[str, Any]] = []
        pending = [c for c in changes if c["kind"] == "times"]
        while pending:
            failed: list[tuple[dict[str, Any], str]] = []
            for change in pending:
                try:
                    self._apply(session_id, change, user)
                    applied += 1
                except MswError as exc:
                    failed.append((change, str(exc)))
            if len(failed) == len(pending):
                refused += [{**c, "reason": why} for c, why in failed]
                break
            pending = [c for c, _why in failed]
        bad = {c["utterance_id"] for c in refused}
        for change in changes:
            if change["kind"] == "times":
                continue
            if change["utterance_id"] in bad:
                refused.append({**change, "reason": f"the new times of line "
                                f"{change['utterance_id']} were refused, so its other "
                                "changes are not applied"})
                continue
            try:
                self._apply(session_id, change, user)
                applied += 1
            except MswError as exc:
                refused.append({**change, "reason": str(exc)})
        return applied, refused

    def _stale_since_export(self, session_id: str, fmt: str, user: User
                            ) -> tuple[str, set[str] | None]:
        """When ``user`` last exported the session as ``fmt``, and the lines corrected or
        coded since (``None``: all of them, a re-split of the speakers came after)."""
        with self.rtx() as s:
            exports = s.scalars(select(AuditEntry).where(
                AuditEntry.action == "export.transcript", AuditEntry.target_id == session_id,
                AuditEntry.user_name == user.name).order_by(AuditEntry.id.desc()))
            since = next((a.at for a in exports
                          if fmt in str((a.detail or {}).get("formats", "")).split(",")), None)
            if since is None:
                raise InputError(f"you have not exported this session as .{fmt}: the import "
                                 "compares against your last export (export, edit, import)")
            stale: set[str] | None = set()
            for kind, target, after in s.execute(
                    select(Correction.kind, Correction.target, Correction.after_ids).where(
                        Correction.session_id == session_id,
                        or_(Correction.at > since, Correction.undone_at > since))):
                if kind == "resplit" or not target:
                    stale = None
                    break
                stale |= {target, *(after or [])}
            if stale is not None:
                stale |= set(s.scalars(select(Decision.target).where(
                    Decision.session_id == session_id, Decision.kind == "code",
                    Decision.at > since)))
        return _iso(since) or str(since), stale

    def _apply(self, session_id: str, change: dict[str, Any], user: User) -> None:
        uid, old, new = change["utterance_id"], change["old"], change["new"]
        if change["kind"] == "times":
            self.retime_utterance(session_id, uid, new[0], new[1], user, old)  # type: ignore[attr-defined]
        elif change["kind"] == "speaker":
            self.reassign_utterance(session_id, uid, new, user, old)
        elif change["kind"] == "text":
            self.edit_text(session_id, uid, new, user, old)
        else:
            self.set_code(session_id, uid, new, user, old)


def _check_content(data: bytes, fmt: str) -> None:
    """Refuse what is not a plain file of the format before a parser sees it."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"not a readable .{fmt} file: it is not UTF-8 text") from None
    head = text.lstrip()[:4096]
    if fmt == "eaf":
        if not head.startswith("<"):
            raise InputError("not a readable .eaf file: it is not XML")
        if re.search(r"<!\s*(DOCTYPE|ENTITY)", text, re.IGNORECASE):
            raise InputError("not a readable .eaf file: it declares a document type or "
                             "entities (ELAN writes none)")
        if "ANNOTATION_DOCUMENT" not in head:
            raise InputError("not a readable .eaf file: no ANNOTATION_DOCUMENT")
    elif 'ooTextFile' not in head[:200]:
        raise InputError('not a readable .textgrid file: it does not start with '
                         'File type = "ooTextFile"')


def _iou(a0: float, a1: float, b0: float, b1: float) -> float:
    inter = min(a1, b1) - max(a0, b0)
    return inter / (max(a1, b1) - min(a0, b0)) if inter > 0 else 0.0


def _differences(session: Session, lines: list[annotation_tools.ReadLine]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The changes the file asks for, in order (per line: times, speaker, text, code), and
    the lines of the file that match no line of the session."""
    by_time: dict[tuple[int, int], list[Utterance]] = {}
    for u in session.utterances:
        by_time.setdefault((_ms(u.start), _ms(u.end)), []).append(u)
    speakers = {s.id for s in session.speakers} | {u.speaker for u in session.utterances}
    matched: list[tuple[annotation_tools.ReadLine, Utterance]] = []
    unmatched: list[annotation_tools.ReadLine] = []
    taken: set[str] = set()
    for line in lines:
        here = [x for x in by_time.get((line.start_ms, line.end_ms), []) if x.id not in taken]
        # two lines at the same times (overlapping talk): the one on this speaker's tier
        u = next((x for x in here if x.speaker == line.speaker), here[0] if here else None)
        if u is None:
            unmatched.append(line)
        else:
            taken.add(u.id)
            matched.append((line, u))
    # moved boundaries: the same tier's line it overlaps most, one to one, largest first
    free = [u for u in session.utterances if u.id not in taken]
    cand = sorted(((_iou(line.start_ms / 1000, line.end_ms / 1000, u.start, u.end), k, u.id)
                   for k, line in enumerate(unmatched) for u in free
                   if u.speaker == line.speaker), reverse=True)
    by_id = {u.id: u for u in free}
    paired: dict[int, Utterance] = {}
    for iou, k, uid in cand:
        if iou >= MIN_MOVED_IOU and k not in paired and uid not in taken:
            paired[k] = by_id[uid]
            taken.add(uid)
    changes: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for k, line in enumerate(unmatched):
        if k in paired:
            matched.append((line, paired[k]))
        else:
            skipped.append({"speaker": line.speaker, "start": line.start_ms / 1000,
                            "end": line.end_ms / 1000, "text": line.text,
                            "reason": "no line of this speaker at or near these times: new "
                                      "lines are not created (a line needs the recognizer's "
                                      "word times; split a line on the review screen)"})
    matched.sort(key=lambda m: (m[1].start, m[1].id))
    for line, u in matched:
        if (line.start_ms, line.end_ms) != (_ms(u.start), _ms(u.end)):
            changes.append({"utterance_id": u.id, "kind": "times",
                            "old": [u.start, u.end],
                            "new": [line.start_ms / 1000, line.end_ms / 1000]})
        if line.speaker != u.speaker:
            if line.speaker in speakers:
                changes.append({"utterance_id": u.id, "kind": "speaker", "old": u.speaker,
                                "new": line.speaker})
            else:
                skipped.append({"speaker": line.speaker, "start": u.start, "end": u.end,
                                "text": line.text, "reason": f"no speaker {line.speaker!r}"})
        if line.text and line.text != u.text:
            changes.append({"utterance_id": u.id, "kind": "text", "old": u.text,
                            "new": line.text})
        code = annotation_tools.confirmed_code(line.code)
        if code and code != _confirmed(u):
            changes.append({"utterance_id": u.id, "kind": "code", "old": _confirmed(u),
                            "new": code})
    return changes, skipped
