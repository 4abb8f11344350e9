"""An ELAN .eaf or Praat .TextGrid, exported from this store and edited in ELAN or Praat,
applied back to the session as corrections.

Why only corrections to existing lines: the store's lines move only by split and merge at a
word (``review.corrections``), so a line is matched by its exact times (whole
milliseconds, as exported). For a matched line a different speaker tier reassigns it, a
different text edits it, and a bare code in its codes tier confirms that code (a value left
as ``"x (suggested 0.54)"`` is no decision). Each change goes through the store's own
method (``reassign_utterance``, ``edit_text``, ``set_code``): permission, team scope, a
reviewed session and a code that does not fit the role are refused the same way as on the
screen, each change is journaled (undo) and audited, and the figures are recomputed.

Edits made since the export are not overwritten: the file is compared against the store
as it is now, so the import needs the time the file was made, which is the importing
login's last audited export of the session in that format (``export.transcript``); a line
corrected or coded after it (by anyone) is refused as stale, and after a re-split of the
speakers every line is. Hence: export, edit, import, by the same login. A line of the file
at times no line has is reported, not created; lines absent from the file are left as they
are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from msw_audio.errors import InputError, MswError
from msw_audio.records import Session, Utterance
from msw_audio.review.auth import User
from msw_audio.review.core import StoreCore, _iso
from msw_audio.review.db import AuditEntry, Correction, Decision
from msw_audio.speech import annotation_tools

#: Formats ``import_annotations`` reads (``speech.annotation_tools``).
IMPORT_FORMATS = ("eaf", "textgrid")
#: A 3-hour session exports to well under 2 MB; anything far larger is not one of ours.
MAX_IMPORT_BYTES = 20 * 1024 * 1024


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
        reader = annotation_tools.read_eaf if fmt == "eaf" else annotation_tools.read_textgrid
        try:
            lines = reader(data)
        except Exception as exc:  # pympi raises bare Exceptions on malformed input
            raise InputError(f"not a readable .{fmt} file: {exc}") from None
        session = self.get_session(session_id, user)  # team scope: 404 for another team's
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
            for change in changes:
                try:
                    self._apply(session_id, change, user)
                    applied += 1
                except MswError as exc:
                    refused.append({**change, "reason": str(exc)})
            with self.tx() as s:
                self.audit(s, user, "import.annotations", "session", session_id, format=fmt,
                           lines=len(lines), applied=applied, refused=len(refused),
                           skipped=len(skipped))
        return {"lines_in_file": len(lines), "changes": changes, "applied": applied,
                "refused": refused, "skipped": skipped, "dry_run": dry_run}

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
        if change["kind"] == "speaker":
            self.reassign_utterance(session_id, uid, new, user, old)
        elif change["kind"] == "text":
            self.edit_text(session_id, uid, new, user, old)
        else:
            self.set_code(session_id, uid, new, user, old)


def _differences(session: Session, lines: list[annotation_tools.ReadLine]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The changes the file asks for, in order (per line: speaker, text, code), and the
    lines of the file that match no line of the session."""
    by_time: dict[tuple[int, int], list[Utterance]] = {}
    for u in session.utterances:
        by_time.setdefault((_ms(u.start), _ms(u.end)), []).append(u)
    speakers = {s.id for s in session.speakers} | {u.speaker for u in session.utterances}
    changes: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for line in lines:
        here = by_time.get((line.start_ms, line.end_ms), [])
        # two lines at the same times (overlapping talk): the one on this speaker's tier
        u = next((x for x in here if x.speaker == line.speaker), here[0] if here else None)
        if u is None:
            skipped.append({"speaker": line.speaker, "start": line.start_ms / 1000,
                            "end": line.end_ms / 1000, "text": line.text,
                            "reason": "no line at these times (boundaries move by split and "
                                      "merge on the review screen)"})
            continue
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
