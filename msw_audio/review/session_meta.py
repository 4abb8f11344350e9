"""Changing a session's metadata (worker, team, date, family pseudonym, type, title).

Why: re-uploading a recording the store already holds must not silently drop the new
metadata (the audio is content-addressed, so it is the same session); the upload form
offers to update it instead. Each changed field is a ``decisions`` row (kind ``meta``,
old -> new) and the change is one audit row naming the fields (never their values: the
audit log holds no names).
"""

from __future__ import annotations

from typing import Any

from msw_audio.errors import InputError, PermissionDenied
from msw_audio.review.auth import User
from msw_audio.review.core import StoreCore, _iso, _parse_date
from msw_audio.review.db import Decision, utcnow

#: the fields an upload's form sets
META_FIELDS = ("title", "worker", "team", "date", "family", "recording_type")


class SessionMeta(StoreCore):
    """Update a session's metadata, audited old -> new."""

    def update_session_meta(self, session_id: str, meta: dict[str, Any], user: User
                            ) -> dict[str, tuple[Any, Any]]:
        """Set the given (non-empty) fields; returns ``{field: (old, new)}`` of the changed ones.

        A login may move a session only to a team it sees (else it would lose it).
        """
        user.require("session.edit")
        unknown = set(meta) - set(META_FIELDS)
        if unknown:
            raise InputError(f"unknown metadata field(s): {', '.join(sorted(unknown))}")
        wanted = {k: str(v).strip() for k, v in meta.items() if v not in (None, "")}
        if "team" in wanted and not user.sees_team(wanted["team"]):
            raise PermissionDenied(f"user {user.name!r} may not move a session to team "
                                   f"{wanted['team']!r}")
        changed: dict[str, tuple[Any, Any]] = {}
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            now = utcnow()
            for key, value in wanted.items():
                old = _iso(row.date) if key == "date" else getattr(row, key)
                new: Any = _parse_date(value) if key == "date" else value[:255]
                if (_iso(new) if key == "date" else new) == old:
                    continue
                setattr(row, key, new)
                new_text = _iso(new) if key == "date" else new
                changed[key] = (old, new_text)
                s.add(Decision(session_id=row.id, kind="meta", target=key, old_value=old,
                               new_value=new_text, user_name=user.name, at=now))
            if changed:
                row.updated_at = now
                self.audit(s, user, "session.meta", "session", row.id, fields=sorted(changed))
        return changed
