"""Users, password hashing and the role permission table.

Recordings are of children and families, so access is decided on the server by one table
(``PERMISSIONS``) that the app and the CLI both consult through ``User.can``. Passwords are
hashed with the standard library's scrypt (memory-hard, salted), so no extra dependency is
needed and a stolen database does not reveal them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from msw_audio.errors import InputError, PermissionDenied

#: In ``User.teams``: every team (admins always see every team).
ALL_TEAMS = "*"

#: Roles a login can have (not to be confused with speaker roles in ``records.ROLES``).
USER_ROLES = ("evaluator", "coach", "researcher", "practitioner", "admin")

#: action -> roles allowed. One table, read by the store on every call.
PERMISSIONS: dict[str, frozenset[str]] = {
    # read a session's transcript, suggestions and decisions
    # (a practitioner: only the sessions whose worker they are, see ``User.sees_session``)
    "session.view": frozenset({"evaluator", "coach", "researcher", "practitioner", "admin"}),
    # hear the recording (researchers only when granted, see GRANTABLE)
    "audio.listen": frozenset({"evaluator", "coach", "practitioner", "admin"}),
    # see worker, family, evaluator names and free text as written; without it (researchers
    # unless granted) the store returns stable pseudonyms and redacted text
    "identity.view": frozenset({"evaluator", "coach", "practitioner", "admin"}),
    # change codes, roles, scores, mark reviewed
    "session.edit": frozenset({"evaluator", "admin"}),
    # add a processed session to the store
    "session.ingest": frozenset({"evaluator", "admin"}),
    # erase a family's data completely
    "session.erase": frozenset({"admin"}),
    "exemplars.view": frozenset({"evaluator", "coach", "admin"}),
    # star an utterance for the coach library, export practice-note handouts
    "exemplars.star": frozenset({"evaluator", "coach", "admin"}),
    # ask a second evaluator to code a session blind (double coding)
    "session.assign": frozenset({"evaluator", "admin"}),
    # a practitioner's team view is their own trend only (scoped like sessions)
    "team.view": frozenset({"evaluator", "coach", "researcher", "practitioner", "admin"}),
    # confirmed-labels and confirmed-scores training files
    "export": frozenset({"researcher", "admin"}),
    "agreement.view": frozenset({"evaluator", "researcher", "admin"}),
    # upload recordings for processing, watch their progress
    "job.enqueue": frozenset({"evaluator", "admin"}),
    "job.view": frozenset({"evaluator", "coach", "researcher", "practitioner", "admin"}),
    "user.manage": frozenset({"admin"}),
    "audit.view": frozenset({"admin"}),
}

#: Actions an admin may grant to one user beyond their role (e.g. audio for a researcher).
GRANTABLE = frozenset(
    {"audio.listen", "exemplars.view", "export", "job.enqueue", "identity.view"}
)

#: OWASP's Password Storage Cheat Sheet minimum for scrypt: N=2^17 (128 MiB), r=8, p=1.
#: Older hashes (N=2^14) still verify and are rehashed at the next successful login.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**17, 8, 1
_SCRYPT_MAXMEM = 256 * 2**20  # hashlib's default (32 MiB) is below what N=2^17 needs
_MIN_PASSWORD = 8


@dataclass(frozen=True)
class User:
    """A logged-in person. Immutable: permissions are fixed for the request that holds it."""

    name: str
    role: str
    grants: frozenset[str] = field(default_factory=frozenset)
    id: int | None = None
    #: ``credential_stamp`` of the password hash this user record was read with
    credential: str = field(default="", compare=False, repr=False)
    #: teams whose sessions this login may see; ``ALL_TEAMS`` inside means every team
    teams: frozenset[str] = field(default=frozenset({"*"}), compare=False)
    #: for a practitioner: the worker name their sessions carry (default: the login name)
    worker: str = field(default="", compare=False)
    #: False for a disabled login (only ``list_users`` returns those; they cannot sign in)
    active: bool = field(default=True, compare=False)

    @property
    def own_only(self) -> bool:
        """A practitioner sees only the sessions they recorded (feedback, not a league table)."""
        return self.role == "practitioner"

    @property
    def worker_name(self) -> str:
        return self.worker or self.name

    def sees_session(self, team: str | None, worker: str | None) -> bool:
        """Whether a session of ``team`` recorded by ``worker`` exists for this login."""
        if self.own_only:
            return (worker or "") == self.worker_name and self.sees_team(team)
        return self.sees_team(team)

    @property
    def all_teams(self) -> bool:
        return self.role == "admin" or ALL_TEAMS in self.teams

    def sees_team(self, team: str | None) -> bool:
        """Whether a session of ``team`` exists for this login at all (least privilege:
        outside their teams a session is "not found", not "forbidden")."""
        return self.all_teams or (team or "") in self.teams

    def require_team(self, team: str | None, doing: str = "add sessions to") -> None:
        """Raise ``PermissionDenied`` when ``team`` is outside this login's teams: a login
        may not put data into a team it cannot see (it could neither check nor undo it)."""
        team = str(team or "").strip()
        if team and not self.sees_team(team):
            raise PermissionDenied(f"user {self.name!r} may not {doing} team {team!r}")

    def can(self, action: str) -> bool:
        if action not in PERMISSIONS:
            raise KeyError(f"unknown action {action!r}")
        return self.role in PERMISSIONS[action] or action in self.grants

    def require(self, action: str) -> None:
        """Raise ``PermissionDenied`` unless this user may do ``action``."""
        if not self.can(action):
            raise PermissionDenied(f"user {self.name!r} ({self.role}) may not {_VERBS[action]}")


_VERBS = {
    "session.view": "view sessions",
    "audio.listen": "listen to recordings",
    "session.edit": "change codes, roles or scores",
    "session.ingest": "add sessions",
    "session.erase": "erase sessions",
    "exemplars.view": "browse the exemplar library",
    "exemplars.star": "star exemplars or export handouts",
    "session.assign": "assign sessions for blind double coding",
    "team.view": "see team summaries",
    "export": "export training data",
    "agreement.view": "see model agreement",
    "job.enqueue": "upload recordings",
    "job.view": "see processing jobs",
    "user.manage": "manage users",
    "identity.view": "see names",
    "audit.view": "read the audit log",
}


def system_user(name: str = "local") -> User:
    """The operator at the machine's shell (CLI): whoever can read the data folder is admin."""
    return User(name=f"cli:{name}", role="admin")


def check_role(role: str) -> str:
    if role not in USER_ROLES:
        raise InputError(f"unknown role {role!r}: use one of {', '.join(USER_ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < _MIN_PASSWORD:
        raise InputError(f"password too short: use at least {_MIN_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64): parameters travel with the hash so they can grow."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32,
        maxmem=_SCRYPT_MAXMEM,
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def needs_rehash(stored: str) -> bool:
    """True for a hash made with weaker parameters than today's (rehash it at login)."""
    try:
        scheme, n, r, p, _salt, _digest = stored.split("$")
        return scheme != "scrypt" or (int(n), int(r), int(p)) < (_SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    except ValueError:
        return True


def credential_stamp(stored: str) -> str:
    """A short fingerprint of a stored hash: a login made before the password changed
    carries the old stamp, so the server can end it (``msw_audio.web.server.Sessions``)."""
    return hashlib.sha256(stored.encode()).hexdigest()[:16]


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a ``hash_password`` string."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=_SCRYPT_MAXMEM,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)
