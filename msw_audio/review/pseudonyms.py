"""Pseudonymised reading: what a login without ``identity.view`` (a researcher) gets back.

Why in the store: a researcher must never receive a worker's, evaluator's or family's name,
nor a name said in the transcript, whatever screen or export asks; so every read method
passes its result through the shields here before returning it. People become stable
tokens (``worker-3fa9c2d1e0``: an HMAC-SHA256 of the name under a per-store secret kept in
``store_settings``), so a researcher can still group by worker or family across sessions
and exports, but cannot recover a name without the store. Transcript text is redacted with
role tokens (``review.redaction``). An admin lifts this for one login with
``grant NAME identity.view``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy.orm import Session as OrmSession

from msw_audio.errors import InputError
from msw_audio.records import Session
from msw_audio.review.auth import User
from msw_audio.review.core import StoreCore
from msw_audio.review.db import SessionRow, StoreSetting, UserRow
from msw_audio.review.redaction import Redactor, redactor_for

_KEY = "pseudonym_key"
#: Settings an admin may change (``set_setting``), with their check.
SETTINGS = {"retention_days": lambda v: str(_days(v))}


def _days(value: Any) -> int:
    try:
        days = int(str(value).strip())
    except ValueError:
        raise InputError(f"retention days {value!r} is not a whole number") from None
    if days < 0:
        raise InputError("retention days must be 0 or more")
    return days


class Pseudonyms(StoreCore):
    """Stable person tokens, redacted text and store-wide settings."""

    # ------------------------------------------------------------------ settings
    def setting(self, key: str, default: str | None = None) -> str | None:
        with self.rtx() as s:
            row = s.get(StoreSetting, key)
            return row.value if row is not None else default

    def set_setting(self, key: str, value: Any, actor: User) -> str:
        """Change a store-wide setting (admin); audited old -> new."""
        actor.require("user.manage")
        if key not in SETTINGS:
            raise InputError(f"unknown setting {key!r}; settings: {', '.join(sorted(SETTINGS))}")
        clean = SETTINGS[key](value)
        with self.tx() as s:
            row = s.get(StoreSetting, key)
            old = row.value if row is not None else None
            if row is None:
                s.add(StoreSetting(key=key, value=clean))
            else:
                row.value = clean
            self.audit(s, actor, "setting", "setting", key, old=old, new=clean)
        return clean

    def _pseudonym_key(self) -> bytes:
        cached = getattr(self, "_pkey", None)
        if cached is not None:
            return cached
        with self.rtx() as s:
            row = s.get(StoreSetting, _KEY)
            value = row.value if row is not None else None
        if value is None:
            with self.tx() as s:  # first use: make the store's secret (kept in the db only)
                row = s.get(StoreSetting, _KEY)
                if row is None:
                    row = StoreSetting(key=_KEY, value=secrets.token_hex(32))
                    s.add(row)
                value = row.value
        self._pkey = bytes.fromhex(value)
        return self._pkey

    # ------------------------------------------------------------------ tokens
    def person_token(self, kind: str, name: str | None) -> str:
        """``kind-<10 hex>`` for a name ("" stays ""); the same name gives the same token."""
        if not name:
            return ""
        digest = hmac.new(self._pseudonym_key(), name.strip().casefold().encode(),
                          hashlib.sha256).hexdigest()
        return f"{kind}-{digest[:10]}"

    @staticmethod
    def shielded(user: User) -> bool:
        """Whether ``user`` gets pseudonyms and redacted text instead of names."""
        return not user.can("identity.view")

    def _shield_fields(self, user: User, record: dict[str, Any]) -> dict[str, Any]:
        """Person fields of a summary/meta/decision record replaced by tokens."""
        if not self.shielded(user):
            return record
        out = dict(record)
        for key, kind in (("worker", "worker"), ("family", "family"), ("created_by", "user"),
                          ("reviewed_by", "user"), ("by", "user"), ("evaluator", "user")):
            if out.get(key):
                out[key] = self.person_token(kind, out[key])
        if "title" in out:
            out["title"] = f"session {out.get('id') or out.get('session_id') or ''}".strip()
        return out

    def _redactor(self, s: OrmSession, row: SessionRow) -> Redactor:
        """One redactor per session: metadata names, detected child names, the text."""
        roles = {k.speaker_id: k.role for k in row.speakers}
        utts = [(roles.get(u.speaker_id, "other"), u.text or "") for u in row.utterances]
        children = list((row.scores or {}).get("child_names") or [])
        workers = [row.worker or "", row.created_by or "", row.reviewed_by or ""]
        workers += [n for (n,) in s.query(UserRow.name)]
        return redactor_for(utts, workers=workers, parents=[row.family or ""],
                            children=children)

    def _shield_session(self, s: OrmSession, user: User, row: SessionRow,
                        session: Session) -> Session:
        """Redacted transcript text, no word list, no child names, no audio file name."""
        if not self.shielded(user):
            return session
        red = self._redactor(s, row)
        for u in session.utterances:
            u.text = red.text(u.text)
            u.words = []
        session.audio.path = ""
        if session.scores:
            session.scores.pop("child_names", None)
            for p in (session.scores.get("principles") or {}).values():
                for ev in p.get("evidence") or []:
                    if isinstance(ev, dict) and "text" in ev:
                        ev["text"] = red.text(str(ev["text"]))
                if p.get("note"):
                    p["note"] = red.text(str(p["note"]))
        return session
