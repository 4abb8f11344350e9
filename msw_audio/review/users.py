"""Logins: adding, authenticating, passwords, grants, teams, disabling."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

from msw_audio.errors import InputError
from msw_audio.review.auth import (
    ALL_TEAMS,
    GRANTABLE,
    User,
    check_password,
    check_role,
    hash_password,
    needs_rehash,
    verify_password,
)
from msw_audio.review.core import StoreCore, _user
from msw_audio.review.db import (
    UserRow,
)

_NAME_RE = re.compile(r"^[\w.@+-]{1,64}$")


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def _check_teams(teams: tuple[str, ...] | list[str]) -> list[str]:
    cleaned = sorted({str(t).strip()[:255] for t in teams if str(t).strip()})
    if not cleaned:
        raise InputError("give at least one team (or '*' for every team)")
    return cleaned


class Users(StoreCore):
    """Logins: adding, authenticating, passwords, grants, teams, disabling."""

    def add_user(self, name: str, role: str, password: str, grants: tuple[str, ...] = (),
                 teams: tuple[str, ...] = (ALL_TEAMS,), worker: str | None = None,
                 actor: User | None = None) -> User:
        """A new login. ``worker``: for a practitioner, the worker name their sessions
        carry (default: the login name), the only sessions they will see.

        ``actor``: who adds it; must hold ``user.manage`` (the Admin tab always passes the
        signed-in user, the CLI its local admin). None only for setting up a store before
        anyone can sign in (tests, ``demo``): audited as ``system``.
        """
        if actor is not None:
            actor.require("user.manage")
        if not _NAME_RE.match(name or ""):
            raise InputError(
                f"user name {name!r} must be 1-64 letters, digits or . _ @ + - (no spaces)"
            )
        check_role(role)
        check_password(password)
        bad = set(grants) - GRANTABLE
        if bad:
            raise InputError(f"cannot grant {sorted(bad)}; grantable: {sorted(GRANTABLE)}")
        try:
            with self.tx() as s:
                row = UserRow(
                    name=name,
                    role=role,
                    password_hash=hash_password(password),
                    grants=sorted(grants),
                    teams=_check_teams(teams),
                    worker=(worker or "").strip()[:255] or None,
                    active=True,
                )
                s.add(row)
                s.flush()
                self.audit(s, actor or "system", "user.add", "user", name, role=role,
                           teams=row.teams, grants=row.grants)
                return _user(row)
        except IntegrityError:
            raise InputError(f"user {name!r} already exists") from None

    def get_user(self, name: str) -> User | None:
        with self.rtx() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name, UserRow.active))
            return _user(row) if row else None

    def list_users(self, user: User) -> list[User]:
        user.require("user.manage")
        with self.rtx() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if ``password`` is right, else None (same work either way).

        The slow hash runs outside any write transaction, so a flood of guesses cannot
        stall evaluators' saves. Attempts for names that do not exist write no audit row
        each (an unauthenticated flood must not grow the append-only log for good): the
        server counts them and calls ``record_unknown_logins`` now and then.
        """
        with self.rtx() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name, UserRow.active))
            stored = row.password_hash if row else _DUMMY_HASH
        ok = verify_password(password, stored) and row is not None
        if row is None:
            return None
        with self.tx() as s:
            if ok and needs_rehash(stored):
                fresh = s.get(UserRow, row.id)
                if fresh is not None and fresh.password_hash == stored:
                    fresh.password_hash = hash_password(password)
                    row = fresh
            self.audit(s, name, "login" if ok else "login.failed")
            return _user(row) if ok else None

    def record_unknown_logins(self, count: int, since: str) -> None:
        """One audit row for ``count`` failed logins with names that do not exist."""
        if count > 0:
            with self.tx() as s:
                self.audit(s, "unknown", "login.failed.unknown", count=count, since=since)

    def set_password(self, name: str, password: str, actor: User | None = None) -> None:
        if actor is not None and actor.name != name:
            actor.require("user.manage")
        check_password(password)
        with self.tx() as s:
            row = self._user_row(s, name)
            row.password_hash = hash_password(password)
            self.audit(s, actor or "system", "user.password", "user", name)
        self._end_logins(name)  # every open login of that user ends now

    def grant(self, name: str, action: str, actor: User) -> User:
        """Give one user an extra permission (e.g. ``audio.listen`` to a researcher)."""
        actor.require("user.manage")
        if action not in GRANTABLE:
            raise InputError(f"cannot grant {action!r}; grantable: {sorted(GRANTABLE)}")
        with self.tx() as s:
            row = self._user_row(s, name)
            row.grants = sorted(set(row.grants) | {action})
            self.audit(s, actor, "user.grant", "user", name, granted=action)
            self.users_epoch += 1
            return _user(row)

    def set_teams(self, name: str, teams: tuple[str, ...], actor: User) -> User:
        """Scope a login to these teams (``("*",)``: every team)."""
        actor.require("user.manage")
        with self.tx() as s:
            row = self._user_row(s, name)
            old = row.teams
            row.teams = _check_teams(teams)
            self.audit(s, actor, "user.teams", "user", name, old=old, new=row.teams)
            self.users_epoch += 1
            return _user(row)

    def revoke(self, name: str, action: str, actor: User) -> User:
        """Take back a permission given with ``grant``."""
        actor.require("user.manage")
        with self.tx() as s:
            row = self._user_row(s, name)
            if action not in (row.grants or ()):
                raise InputError(f"user {name!r} holds no grant {action!r}")
            row.grants = sorted(set(row.grants) - {action})
            self.audit(s, actor, "user.revoke", "user", name, revoked=action)
            self.users_epoch += 1
            return _user(row)

    def set_active(self, name: str, active: bool, actor: User) -> None:
        """Enable or disable a login. A disabled login's open sessions end at once (in a
        served app: ``on_logins_end``; from another process, at their next request, when
        the login gate finds no active user). The last active admin cannot be
        disabled: nobody could then enable anyone from the screen."""
        actor.require("user.manage")
        with self.tx() as s:
            row = self._user_row(s, name)
            if not active:
                self._keep_an_admin(s, row)
            row.active = active
            self.audit(s, actor, "user.enable" if active else "user.disable", "user", name)
        if active:
            self.users_epoch += 1
        else:
            self._end_logins(name)  # a disabled user's open logins end now

    def set_user_role(self, name: str, role: str, actor: User) -> User:
        """Change a login's role (audited old -> new); it applies from the user's next
        request. The last active admin keeps the admin role."""
        actor.require("user.manage")
        check_role(role)
        with self.tx() as s:
            row = self._user_row(s, name)
            old = row.role
            if old == role:
                return _user(row)
            if role != "admin":
                self._keep_an_admin(s, row)
            row.role = role
            self.audit(s, actor, "user.role", "user", name, old=old, new=role)
            self.users_epoch += 1
            return _user(row)

    @staticmethod
    def _keep_an_admin(s: OrmSession, row: UserRow) -> None:
        """Refuse to take the last active admin away (disable or demote)."""
        if row.role != "admin" or not row.active:
            return
        others = s.scalar(select(func.count(UserRow.id)).where(
            UserRow.role == "admin", UserRow.active, UserRow.id != row.id)) or 0
        if not others:
            raise InputError(f"{row.name!r} is the last active admin: add or enable another "
                             "admin first")

    @staticmethod
    def _user_row(s: OrmSession, name: str) -> UserRow:
        row = s.scalar(select(UserRow).where(UserRow.name == name))
        if row is None:
            raise InputError(f"no user {name!r}")
        return row

