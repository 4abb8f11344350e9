"""The review store: sessions, evaluator decisions, users and audit log in one database.

``Store.open(data_dir)`` gives a SQLite database in WAL mode inside a managed data folder
(or PostgreSQL via ``url``), migrated to the latest Alembic revision. Every public method
takes the acting ``User`` and checks ``User.require(action)`` *here*, on the server side,
so the app, the CLI and any later API share one permission rule (``msw_audio.review.auth``).
Every write is one short transaction, saved at once and audit-logged, so a reload or a
crash loses at most the click in flight.

Data folder layout (see docs/store.md)::

    <data>/msw-audio.db        SQLite database (+ -wal, -shm)
    <data>/audio/<sha256>.<ext> recordings, content-addressed (never by uploaded name)
    <data>/incoming/            uploads waiting for a job (same naming)
    <data>/cache/<sha256>/      pipeline stage cache (resume after a crash)
    <data>/jobs/<job id>/out/   pipeline output while a job runs
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shutil
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from msw_audio.coding.codebook import Codebook, load_codebook, resolve_codebook
from msw_audio.errors import InputError, PermissionDenied, StaleEdit
from msw_audio.records import (
    PRINCIPLES,
    ROLES,
    AudioInfo,
    CodeSuggestion,
    Session,
    Speaker,
    Turn,
    Utterance,
    Word,
)
from msw_audio.review.auth import (
    ALL_TEAMS,
    GRANTABLE,
    User,
    check_password,
    check_role,
    credential_stamp,
    hash_password,
    needs_rehash,
    system_user,
    verify_password,
)
from msw_audio.review.db import (
    AuditEntry,
    Decision,
    Job,
    PrincipleScore,
    Recording,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UserRow,
    UtteranceRow,
    utcnow,
)

DB_NAME = "msw-audio.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

STATUSES = ("unreviewed", "in_progress", "reviewed")
MIN_GROUP = 3  # team summaries hide groups with fewer sessions (no league tables of one)
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_EXT_RE = re.compile(r"^\.[a-z0-9]{1,6}$")
class _AnyValue:
    def __repr__(self) -> str:
        return "ANY_VALUE"


#: ``expected=ANY_VALUE``: the caller does not know what the line held (CLI, scripts)
ANY_VALUE: Any = _AnyValue()


#: The MITI summary measures the team view aggregates (recomputed from confirmed codes on
#: each decision, ``Store._rescore``); counts of lines and bookkeeping fields are left out.
TEAM_MITI_MEASURES = (
    "reflection_to_question", "pct_complex_reflection", "pct_open_question", "mi_adherent",
    "mi_non_adherent", "change_talk_share", "technical_global", "relational_global",
)
#: Largest recording ingest copies (the upload limit's default, 2 GiB).
MAX_RECORDING_BYTES = 2 * 2**30
_NAME_RE = re.compile(r"^[\w.@+-]{1,64}$")


def default_data_dir() -> Path:
    """``$MSW_AUDIO_DATA``, else ``$XDG_DATA_HOME/msw-audio``, else ``~/.local/share/msw-audio``."""
    env = os.environ.get("MSW_AUDIO_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "msw-audio"


def safe_name(name: str | os.PathLike[str], limit: int = 120) -> str:
    """A printable file name for display only: no folders, no control characters.

    Uploaded names are never used to build a path (files are stored by content hash);
    this only keeps ``../../x.wav`` or ``;rm -rf /`` inert when shown or logged.
    """
    base = re.split(r"[\\/]", str(name))[-1]
    base = unicodedata.normalize("NFC", base)
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:limit] or "recording"


def safe_ext(path: str | os.PathLike[str]) -> str:
    """Lower-case extension if it is plain (``.wav``), else ``.bin``: the audio's file suffix."""
    ext = Path(str(path)).suffix.lower()
    return ext if _EXT_RE.match(ext) else ".bin"


@dataclass(frozen=True)
class DataPaths:
    """Where things live inside the data folder; every path is built from a hash or an id."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / DB_NAME

    @property
    def audio(self) -> Path:
        return self.root / "audio"

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def uploads(self) -> Path:
        """Where the web server's file uploads wait until they are queued."""
        return self.root / "uploads"

    @property
    def imports(self) -> Path:
        """The one server folder the web form may add processed sessions from."""
        return self.root / "import"

    def inside_imports(self, path: str | os.PathLike[str]) -> Path:
        """``path`` resolved, if it lies inside ``imports`` (links resolved first), else
        ``InputError``: a form field must never name an arbitrary server file."""
        resolved = Path(path).expanduser().resolve()
        base = self.imports.resolve()
        if resolved != base and base not in resolved.parents:
            raise InputError(
                f"the web form adds sessions only from {self.imports} on the server; "
                "copy the output folder (and its recording) there, or use `msw-audio ingest`"
            )
        return resolved

    def audio_file(self, sha256: str, ext: str) -> Path:
        return self.audio / f"{_check_sha(sha256)}{ext}"

    def cache_for(self, sha256: str) -> Path:
        return self.cache / _check_sha(sha256)

    def job_dir(self, job_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-z]{1,32}", job_id):
            raise InputError(f"bad job id {job_id!r}")
        return self.jobs / job_id

    def create(self) -> None:
        for folder in (self.root, self.audio, self.incoming, self.cache, self.jobs,
                       self.imports):
            folder.mkdir(parents=True, exist_ok=True)
            try:
                folder.chmod(0o700)  # family recordings: owner only
            except OSError:
                pass


def _check_sha(sha256: str) -> str:
    if not _SHA_RE.match(sha256 or ""):
        raise InputError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


@dataclass
class SessionSummary:
    """One row of the evaluator's queue."""

    id: str
    title: str
    worker: str
    team: str
    date: str | None
    status: str
    n_utterances: int
    n_confirmed: int
    recording_type: str = ""
    family: str = ""
    duration: float | None = None
    created_at: str = ""

    @property
    def progress(self) -> float:
        return self.n_confirmed / self.n_utterances if self.n_utterances else 0.0


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"date {value!r} is not YYYY-MM-DD") from None


def _model_version(models: dict[str, Any]) -> str:
    tagger = models.get("tagger") or {}
    if not isinstance(tagger, dict):
        return str(tagger)
    return " ".join(str(tagger[k]) for k in ("name", "version") if tagger.get(k)).strip()


def _sqlite_engine(db_path: Path) -> Engine:
    engine = create_engine(
        f"sqlite:///{db_path}",
        connect_args={"timeout": 60, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA synchronous=FULL")  # a committed decision survives power loss
        cur.execute("PRAGMA secure_delete=ON")  # erased rows are overwritten, not just unlinked
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # Take the write lock up front: two workers can never both read "queued" and then
        # fail to upgrade (SQLITE_BUSY_SNAPSHOT); they queue on busy_timeout instead.
        read_only = conn.get_execution_options().get("msw_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest Alembic revision (safe to call from many processes)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7317001)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """Review store API used by the app, the CLI and the job worker."""

    def __init__(self, engine: Engine, data_dir: Path, codebook: Codebook | None = None) -> None:
        self.engine = engine
        self.paths = DataPaths(Path(data_dir))
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            engine.execution_options(msw_read_only=True), expire_on_commit=False
        )
        self._lock = threading.Lock()
        self._codebook = codebook
        self._codebooks: dict[str, Codebook] = {}

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, data_dir: Path | None = None, url: str | None = None,
             codebook: Codebook | None = None) -> Store:
        """Open (creating and migrating as needed) the store in ``data_dir``.

        ``url`` selects another database (``postgresql+psycopg://user@host/db``); files
        (audio, cache, job outputs) still live in ``data_dir``. ``codebook`` is the one this
        store codes new sessions with (default: the shipped one); a session that records
        another codebook is read and checked with that one (``codebook_for``).
        """
        root = Path(data_dir).expanduser() if data_dir else default_data_dir()
        paths = DataPaths(root.resolve())
        paths.create()
        url = url or os.environ.get("MSW_AUDIO_DB_URL")
        engine = create_engine(url, pool_pre_ping=True) if url else _sqlite_engine(paths.db)
        migrate(engine)
        if not url:
            for suffix in ("", "-wal", "-shm"):
                db_file = paths.db.with_name(paths.db.name + suffix)
                if db_file.exists():
                    try:
                        db_file.chmod(0o600)  # owner only, like the folders
                    except OSError:
                        pass
        return cls(engine, paths.root, codebook)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def data_dir(self) -> Path:
        return self.paths.root

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def tx(self) -> Iterator[OrmSession]:
        """One write transaction: committed on exit, rolled back on any error."""
        with self._sessions.begin() as s:
            yield s

    @contextmanager
    def rtx(self) -> Iterator[OrmSession]:
        """One read-only transaction: on SQLite a plain (deferred) BEGIN, so reads never
        wait for a worker's writes in WAL mode. Never write through it."""
        with self._read_sessions.begin() as s:
            yield s

    def _audit(
        self,
        s: OrmSession,
        user: User | str,
        action: str,
        target_type: str = "",
        target_id: str = "",
        **detail: Any,
    ) -> None:
        name = user.name if isinstance(user, User) else str(user)
        s.add(
            AuditEntry(
                user_name=name,
                action=action,
                target_type=target_type,
                target_id=target_id[:64],
                detail=detail,
            )
        )

    # ------------------------------------------------------------------ users
    def add_user(self, name: str, role: str, password: str, grants: tuple[str, ...] = (),
                 teams: tuple[str, ...] = (ALL_TEAMS,)) -> User:
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
                )
                s.add(row)
                s.flush()
                self._audit(s, "system", "user.add", "user", name, role=role)
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
            self._audit(s, name, "login" if ok else "login.failed")
            return _user(row) if ok else None

    def record_unknown_logins(self, count: int, since: str) -> None:
        """One audit row for ``count`` failed logins with names that do not exist."""
        if count > 0:
            with self.tx() as s:
                self._audit(s, "unknown", "login.failed.unknown", count=count, since=since)

    def set_password(self, name: str, password: str, actor: User | None = None) -> None:
        if actor is not None and actor.name != name:
            actor.require("user.manage")
        check_password(password)
        with self.tx() as s:
            row = self._user_row(s, name)
            row.password_hash = hash_password(password)
            self._audit(s, actor or "system", "user.password", "user", name)

    def grant(self, name: str, action: str, actor: User) -> User:
        """Give one user an extra permission (e.g. ``audio.listen`` to a researcher)."""
        actor.require("user.manage")
        if action not in GRANTABLE:
            raise InputError(f"cannot grant {action!r}; grantable: {sorted(GRANTABLE)}")
        with self.tx() as s:
            row = self._user_row(s, name)
            row.grants = sorted(set(row.grants) | {action})
            self._audit(s, actor, "user.grant", "user", name, granted=action)
            return _user(row)

    def set_teams(self, name: str, teams: tuple[str, ...], actor: User) -> User:
        """Scope a login to these teams (``("*",)``: every team)."""
        actor.require("user.manage")
        with self.tx() as s:
            row = self._user_row(s, name)
            old = row.teams
            row.teams = _check_teams(teams)
            self._audit(s, actor, "user.teams", "user", name, old=old, new=row.teams)
            return _user(row)

    def revoke(self, name: str, action: str, actor: User) -> User:
        """Take back a permission given with ``grant``."""
        actor.require("user.manage")
        with self.tx() as s:
            row = self._user_row(s, name)
            if action not in (row.grants or ()):
                raise InputError(f"user {name!r} holds no grant {action!r}")
            row.grants = sorted(set(row.grants) - {action})
            self._audit(s, actor, "user.revoke", "user", name, revoked=action)
            return _user(row)

    def set_active(self, name: str, active: bool, actor: User) -> None:
        actor.require("user.manage")
        with self.tx() as s:
            self._user_row(s, name).active = active
            self._audit(s, actor, "user.enable" if active else "user.disable", "user", name)

    @staticmethod
    def _user_row(s: OrmSession, name: str) -> UserRow:
        row = s.scalar(select(UserRow).where(UserRow.name == name))
        if row is None:
            raise InputError(f"no user {name!r}")
        return row

    # ------------------------------------------------------------------ ingest
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
        session = _read_session(Path(out_dir))
        meta = dict(meta or {})
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
                self._audit(
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

    # ------------------------------------------------------------------ reading
    def list_sessions(self, user: User) -> list[SessionSummary]:
        """The review queue: unreviewed first, then in progress, then reviewed."""
        user.require("session.view")
        return self._summaries(user)

    def session_summary(self, session_id: str, user: User) -> SessionSummary | None:
        """One session's queue row (status and progress), without listing every session."""
        user.require("session.view")
        found = self._summaries(user, session_id)
        return found[0] if found else None

    def _summaries(self, user: User, session_id: str | None = None) -> list[SessionSummary]:
        n_utt = (
            select(func.count(UtteranceRow.id))
            .where(UtteranceRow.session_id == SessionRow.id)
            .scalar_subquery()
        )
        n_conf = (
            select(func.count(UtteranceRow.id))
            .where(
                UtteranceRow.session_id == SessionRow.id, UtteranceRow.confirmed_code.is_not(None)
            )
            .scalar_subquery()
        )
        with self.rtx() as s:
            q = _visible(select(SessionRow, n_utt, n_conf), user)
            if session_id is not None:
                q = q.where(SessionRow.id == session_id)
            rows = s.execute(q).all()
        order = {st: i for i, st in enumerate(STATUSES)}
        out = [
            SessionSummary(
                id=r.id,
                title=r.title,
                worker=r.worker,
                team=r.team,
                date=_iso(r.date),
                status=r.status,
                n_utterances=int(nu or 0),
                n_confirmed=int(nc or 0),
                recording_type=r.recording_type,
                family=r.family,
                duration=r.duration,
                created_at=_iso(r.created_at) or "",
            )
            for r, nu, nc in rows
        ]
        out.sort(key=lambda x: (order.get(x.status, 9), x.date or "", x.created_at), reverse=False)
        return out

    def _session_row(self, s: OrmSession, session_id: str, lock: bool = False,
                     user: User | None = None) -> SessionRow:
        """The session's row; with ``user``, only if that login may see its team (else the
        same "no session" as for an id that does not exist: no existence leak)."""
        q = select(SessionRow).where(SessionRow.id == session_id)
        if lock and not self.is_sqlite:
            q = q.with_for_update()
        row = s.scalar(q)
        if row is None or (user is not None and not user.sees_team(row.team)):
            raise InputError(f"no session {session_id!r}")
        return row

    def session_meta(self, session_id: str, user: User) -> dict[str, Any]:
        """Worker, team, date, family pseudonym, type, status and review stamps."""
        user.require("session.view")
        with self.rtx() as s:
            r = self._session_row(s, session_id, user=user)
            return {
                "id": r.id,
                "title": r.title,
                "worker": r.worker,
                "team": r.team,
                "date": _iso(r.date),
                "family": r.family,
                "recording_type": r.recording_type,
                "status": r.status,
                "duration": r.duration,
                "created_at": _iso(r.created_at),
                "created_by": r.created_by,
                "reviewed_at": _iso(r.reviewed_at),
                "reviewed_by": r.reviewed_by,
                "models": r.models,
            }

    def get_session(self, session_id: str, user: User) -> Session:
        """The session as the reviewer should see it now.

        Confirmed speaker roles replace suggested ones; an utterance's confirmed code is
        first in ``codes`` (``source="evaluator"``, probability 1) followed by the model's
        other suggestions; confirmed principle scores appear as ``confirmed``/``note`` in
        ``scores["principles"][name]``. ``get_decisions`` has who/when for each.
        """
        user.require("session.view")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            session = self._session_from_rows(s, row)
            scores_rows = list(
                s.scalars(select(PrincipleScore).where(PrincipleScore.session_id == session_id))
            )
        scores = session.scores
        if scores_rows:
            scores = scores or {"principles": {}}
            principles = scores.setdefault("principles", {})
            for p in scores_rows:
                entry = principles.setdefault(
                    p.principle,
                    {
                        "value": p.suggested,
                        "confidence": p.confidence,
                        "evidence": p.evidence,
                        "reasons": p.reasons,
                    },
                )
                entry["confirmed"] = p.confirmed
                entry["note"] = p.note
        session.scores = scores
        return session

    def _session_from_rows(self, s: OrmSession, row: SessionRow) -> Session:
        """The session as stored now: confirmed roles, confirmed codes first (probability 1,
        ``source="evaluator"``), then the model's other suggestions; scores as last computed."""
        session_id = row.id
        rec = s.get(Recording, row.recording_sha256)
        speakers = list(
            s.scalars(select(SpeakerRow).where(SpeakerRow.session_id == session_id))
        )
        utts = list(
            s.scalars(
                select(UtteranceRow)
                .where(UtteranceRow.session_id == session_id)
                .order_by(UtteranceRow.idx)
            )
        )
        sugg: dict[str, list[Suggestion]] = {}
        for sg in s.scalars(
            select(Suggestion)
            .where(Suggestion.session_id == session_id)
            .order_by(Suggestion.utterance_id, Suggestion.rank)
        ):
            sugg.setdefault(sg.utterance_id, []).append(sg)
        utterances = []
        for u in utts:
            model = [
                CodeSuggestion(g.code, g.probability, g.source)
                for g in sugg.get(u.utterance_id, [])
            ]
            if u.confirmed_code:
                model = [CodeSuggestion(u.confirmed_code, 1.0, "evaluator")] + [
                    c for c in model if c.code != u.confirmed_code
                ]
            utterances.append(
                Utterance(
                    id=u.utterance_id,
                    start=u.start,
                    end=u.end,
                    speaker=u.speaker_id,
                    text=u.text,
                    words=[Word(**w) for w in (u.words or [])],
                    codes=model,
                )
            )
        return Session(
            audio=AudioInfo(
                path=rec.original_name if rec else "",
                sha256=row.recording_sha256,
                duration=row.duration or 0.0,
            ),
            speakers=[
                Speaker(
                    id=k.speaker_id,
                    role=k.role,
                    role_confidence=k.role_confidence,
                    talk_time=k.talk_time,
                )
                for k in speakers
            ],
            utterances=utterances,
            turns=[Turn(**t) for t in (row.turns or [])],
            models=dict(row.models or {}),
            scores=json.loads(json.dumps(row.scores)) if row.scores else None,
            language=row.language,
            schema_version=row.schema_version,
        )

    def get_decisions(self, session_id: str, user: User) -> dict[str, Any]:
        """Everything an evaluator decided in this session, with who and when.

        ``{"status", "reviewed_by", "reviewed_at",
           "codes": {utterance_id: {"code", "suggested", "suggested_probability", "by", "at"}},
           "roles": {speaker_id: {"role", "suggested", "by", "at"}},
           "scores": {principle: {"value", "note", "suggested", "by", "at"}}}``
        (only confirmed items appear).
        """
        user.require("session.view")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            top = {
                g.utterance_id: g
                for g in s.scalars(
                    select(Suggestion).where(
                        Suggestion.session_id == session_id, Suggestion.rank == 0
                    )
                )
            }
            codes = {
                u.utterance_id: {
                    "code": u.confirmed_code,
                    "suggested": top[u.utterance_id].code if u.utterance_id in top else None,
                    "suggested_probability": (
                        top[u.utterance_id].probability if u.utterance_id in top else None
                    ),
                    "by": u.confirmed_by,
                    "at": _iso(u.confirmed_at),
                }
                for u in s.scalars(
                    select(UtteranceRow).where(
                        UtteranceRow.session_id == session_id,
                        UtteranceRow.confirmed_code.is_not(None),
                    )
                )
            }
            roles = {
                k.speaker_id: {
                    "role": k.role,
                    "suggested": k.suggested_role,
                    "by": k.role_confirmed_by,
                    "at": _iso(k.role_confirmed_at),
                }
                for k in s.scalars(select(SpeakerRow).where(SpeakerRow.session_id == session_id))
                if k.role_confirmed_by
            }
            scores = {
                p.principle: {
                    "value": p.confirmed,
                    "note": p.note,
                    "suggested": p.suggested,
                    "by": p.confirmed_by,
                    "at": _iso(p.confirmed_at),
                }
                for p in s.scalars(
                    select(PrincipleScore).where(
                        PrincipleScore.session_id == session_id,
                        PrincipleScore.confirmed.is_not(None),
                    )
                )
            }
            return {
                "status": row.status,
                "reviewed_by": row.reviewed_by,
                "reviewed_at": _iso(row.reviewed_at),
                "codes": codes,
                "roles": roles,
                "scores": scores,
            }

    def decision_history(self, session_id: str, user: User) -> list[dict[str, Any]]:
        """Every change in this session, oldest first (who, when, kind, target, old -> new)."""
        user.require("session.view")
        with self.rtx() as s:
            self._session_row(s, session_id, user=user)
            return [
                {
                    "kind": d.kind,
                    "target": d.target,
                    "old": d.old_value,
                    "new": d.new_value,
                    "note": d.note,
                    "by": d.user_name,
                    "at": _iso(d.at),
                }
                for d in s.scalars(
                    select(Decision).where(Decision.session_id == session_id).order_by(Decision.id)
                )
            ]

    def audio_file(self, session_id: str, user: User, audit: bool = True) -> Path:
        """Path of the recording inside the data folder (for the app to serve after login).

        ``audit=False`` for the browser's follow-up Range requests of one listening (a seek
        is a request): one audit row per listening, not one per seek, and no write
        transaction per chunk of audio.
        """
        user.require("audio.listen")
        with self.tx() if audit else self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            rec = s.get(Recording, row.recording_sha256)
            if audit:
                self._audit(s, user, "audio.listen", "session", session_id)
        if rec is None or not rec.has_audio:
            raise InputError(f"session {session_id!r} has no recording in the store")
        path = self.paths.audio_file(rec.sha256, rec.ext)
        if not path.is_file():
            raise InputError(f"recording of session {session_id!r} is missing from the data folder")
        return path

    # ------------------------------------------------------------------ decisions
    @property
    def codebook(self) -> Codebook:
        """The store's codebook (loaded on first use, never at import)."""
        if self._codebook is None:
            self._codebook = load_codebook()
        return self._codebook

    def codebook_for(self, session_id: str) -> Codebook:
        """The codebook that coded ``session_id`` (its ``models.codebook``), else the store's.

        Why: a session coded with a second codebook is reviewed with that codebook's codes
        and hotkeys, and only its codes are accepted for it.
        """
        with self.rtx() as s:
            models = s.scalar(select(SessionRow.models).where(SessionRow.id == session_id))
        return self._codebook_of(models)

    def _codebook_of(self, models: Any) -> Codebook:
        """The codebook a session's ``models`` record names (else the store's)."""
        record = (models or {}).get("codebook") if isinstance(models, dict) else None
        if not record or record.get("name") == self.codebook.name:
            return self.codebook
        key = f"{record.get('name')}@{record.get('version')}:{record.get('path')}"
        if key not in self._codebooks:
            self._codebooks[key] = resolve_codebook(record)
        return self._codebooks[key]

    def _known_codes(self, session_id: str) -> set[str]:
        return set(self.codebook_for(session_id).ids)

    def _decide(
        self,
        s: OrmSession,
        row: SessionRow,
        user: User,
        kind: str,
        target: str,
        old: Any,
        new: Any,
        note: str | None = None,
    ) -> None:
        now = utcnow()
        s.add(
            Decision(
                session_id=row.id,
                kind=kind,
                target=target,
                old_value=None if old is None else str(old),
                new_value=None if new is None else str(new),
                note=note,
                user_name=user.name,
                at=now,
            )
        )
        if kind != "status" and row.status == "unreviewed":
            row.status = "in_progress"
        row.updated_at = now
        if kind in ("code", "role") and row.scores:
            self._rescore(s, row, evidence=False)
        elif kind == "status" and new == "reviewed" and row.scores:
            self._rescore(s, row, evidence=True)
        self._audit(s, user, f"{kind}.set", "session", row.id, target=target)

    def _rescore(self, s: OrmSession, row: SessionRow, evidence: bool) -> None:
        """Recompute the session's suggested scores and MITI summary from what it holds now
        (confirmed codes and roles where given, suggestions elsewhere), in the decision's own
        transaction: every figure the screen, the team view and the exports show follows
        the evaluator, never the numbers made once at processing time.

        ``evidence``: also re-choose each principle's evidence lines. That is a leave-one-out
        pass per candidate line (seconds on a long visit), so a code or role decision keeps
        the evidence chosen before (figures only, milliseconds) and marking the session
        reviewed re-chooses it from the confirmed codes.
        """
        from msw_audio.scoring.rubric import score_session

        s.flush()
        session = self._session_from_rows(s, row)
        scores = score_session(session, codebook=self._codebook_of(row.models), evidence=evidence)
        if not evidence:
            before = (row.scores or {}).get("principles") or {}
            for name, entry in scores.get("principles", {}).items():
                if "evidence" in (before.get(name) or {}):
                    entry["evidence"] = before[name]["evidence"]
        row.scores = scores

    def set_code(self, session_id: str, utterance_id: str, code: str, user: User,
                 expected: Any = ANY_VALUE) -> None:
        """Confirm ``code`` for one utterance (saved and audited at once).

        ``expected``: the confirmed code (or None) the reviewer's screen showed; if the line
        holds something else now, ``StaleEdit`` and nothing is written, so two evaluators
        working from stale views never silently overwrite each other.
        """
        user.require("session.edit")
        if code not in self._known_codes(session_id):
            raise InputError(f"unknown code {code!r}")
        self._set_code(session_id, utterance_id, code, user, note=None, expected=expected)

    def accept_code(self, session_id: str, utterance_id: str, user: User,
                    expected: Any = ANY_VALUE) -> str:
        """Confirm the model's top suggestion; returns the code."""
        user.require("session.edit")
        with self.rtx() as s:
            code = s.scalar(
                select(Suggestion.code).where(
                    Suggestion.session_id == session_id,
                    Suggestion.utterance_id == utterance_id,
                    Suggestion.rank == 0,
                )
            )
        if code is None:
            raise InputError(f"utterance {utterance_id!r} has no suggested code to accept")
        self._set_code(session_id, utterance_id, code, user, note="accepted suggestion",
                       expected=expected)
        return code

    def _set_code(
        self, session_id: str, utterance_id: str, code: str, user: User, note: str | None,
        expected: Any = ANY_VALUE,
    ) -> None:
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            utt = self._utterance_row(s, session_id, utterance_id, lock=True)
            _check_expected(utt, expected)
            old = utt.confirmed_code
            utt.confirmed_code = code
            utt.confirmed_by = user.name
            utt.confirmed_at = utcnow()
            self._decide(s, row, user, "code", utterance_id, old, code, note)

    def _utterance_row(self, s: OrmSession, session_id: str, utterance_id: str,
                       lock: bool = False) -> UtteranceRow:
        q = select(UtteranceRow).where(
            UtteranceRow.session_id == session_id,
            UtteranceRow.utterance_id == utterance_id,
        )
        if lock and not self.is_sqlite:  # SQLite: the write transaction already serialises
            q = q.with_for_update()
        utt = s.scalar(q)
        if utt is None:
            raise InputError(f"no utterance {utterance_id!r} in session {session_id!r}")
        return utt

    def clear_code(self, session_id: str, utterance_id: str, user: User,
                   expected: Any = ANY_VALUE) -> None:
        """Undo a confirmation (the utterance is back to 'suggested only')."""
        user.require("session.edit")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            utt = self._utterance_row(s, session_id, utterance_id, lock=True)
            _check_expected(utt, expected)
            old = utt.confirmed_code
            utt.confirmed_code = utt.confirmed_by = utt.confirmed_at = None
            self._decide(s, row, user, "code", utterance_id, old, None, "cleared")

    def set_role(self, session_id: str, speaker_id: str, role: str, user: User) -> None:
        user.require("session.edit")
        if role not in ROLES:
            raise InputError(f"unknown speaker role {role!r}: use one of {', '.join(ROLES)}")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            spk = s.scalar(
                select(SpeakerRow).where(
                    SpeakerRow.session_id == session_id, SpeakerRow.speaker_id == speaker_id
                )
            )
            if spk is None:
                raise InputError(f"no speaker {speaker_id!r} in session {session_id!r}")
            old = spk.role
            spk.role = role
            spk.role_confirmed_by = user.name
            spk.role_confirmed_at = utcnow()
            self._decide(s, row, user, "role", speaker_id, old, role)

    def confirm_score(
        self, session_id: str, principle: str, value: float, note: str | None, user: User
    ) -> None:
        """Confirm (or change) a principle score 1-5 in halves, with an optional note."""
        user.require("session.edit")
        if principle not in PRINCIPLES:
            raise InputError(f"unknown principle {principle!r}: use one of {', '.join(PRINCIPLES)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"score {value!r} is not a number") from None
        if not (1.0 <= value <= 5.0) or value * 2 != int(value * 2):
            raise InputError(f"score {value} must be 1-5 in steps of 0.5")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            ps = s.scalar(
                select(PrincipleScore).where(
                    PrincipleScore.session_id == session_id, PrincipleScore.principle == principle
                )
            )
            if ps is None:
                ps = PrincipleScore(
                    session_id=session_id, principle=principle, evidence=[], reasons=[]
                )
                s.add(ps)
            old = ps.confirmed
            ps.confirmed = value
            ps.note = (note or "").strip() or None
            ps.confirmed_by = user.name
            ps.confirmed_at = utcnow()
            self._decide(s, row, user, "score", principle, old, value, ps.note)

    def mark_reviewed(self, session_id: str, user: User, reviewed: bool = True) -> None:
        user.require("session.edit")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            old = row.status
            row.status = "reviewed" if reviewed else "in_progress"
            row.reviewed_by = user.name if reviewed else None
            row.reviewed_at = utcnow() if reviewed else None
            self._decide(s, row, user, "status", "", old, row.status)

    # ------------------------------------------------------------------ coach / team / research
    def exemplars(
        self,
        user: User,
        code: str | None = None,
        principle: str | None = None,
        worker: str | None = None,
        team: str | None = None,
        date_from: Any = None,
        date_to: Any = None,
        context: int = 2,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Confirmed good practice, each with the utterances around it.

        With ``code``: utterances an evaluator confirmed as that code. With ``principle``:
        the evidence utterances of sessions whose confirmed score on it is 4 or more.
        Neither: every confirmed code in the codebook's ``good_practice`` group.
        """
        user.require("exemplars.view")
        if principle is not None and principle not in PRINCIPLES:
            raise InputError(f"unknown principle {principle!r}")
        d_from, d_to = _parse_date(date_from), _parse_date(date_to)
        with self.rtx() as s:
            q = _visible(select(SessionRow), user)
            if worker:
                q = q.where(SessionRow.worker == worker)
            if team:
                q = q.where(SessionRow.team == team)
            if d_from:
                q = q.where(SessionRow.date >= d_from)
            if d_to:
                q = q.where(SessionRow.date <= d_to)
            sessions = {r.id: r for r in s.scalars(q)}
            if not sessions:
                return []
            picks: list[tuple[str, str, float | None, str | None]] = []  # session, utt, score, note
            if principle:
                for p in s.scalars(
                    select(PrincipleScore).where(
                        PrincipleScore.principle == principle,
                        PrincipleScore.confirmed >= 4,
                        PrincipleScore.session_id.in_(sessions),
                    )
                ):
                    for ev in p.evidence or []:
                        if ev.get("utterance_id"):
                            picks.append((p.session_id, ev["utterance_id"], p.confirmed, p.note))
            else:
                codes = (code,) if code else self.codebook.group("good_practice")
                for u in s.scalars(
                    select(UtteranceRow)
                    .where(
                        UtteranceRow.session_id.in_(sessions),
                        UtteranceRow.confirmed_code.in_(codes),
                    )
                    .order_by(UtteranceRow.session_id, UtteranceRow.idx)
                ):
                    picks.append((u.session_id, u.utterance_id, None, None))
            picks = picks[:limit]
            out = []
            cache: dict[str, tuple[list[UtteranceRow], dict[str, str]]] = {}
            for sid, uid, score, note in picks:
                if sid not in cache:
                    rows = list(
                        s.scalars(
                            select(UtteranceRow)
                            .where(UtteranceRow.session_id == sid)
                            .order_by(UtteranceRow.idx)
                        )
                    )
                    roles = {
                        k.speaker_id: k.role
                        for k in s.scalars(select(SpeakerRow).where(SpeakerRow.session_id == sid))
                    }
                    cache[sid] = (rows, roles)
                rows, roles = cache[sid]
                pos = next((i for i, r in enumerate(rows) if r.utterance_id == uid), None)
                if pos is None:
                    continue
                u = rows[pos]
                if principle and code and u.confirmed_code != code:
                    continue
                srow = sessions[sid]
                out.append(
                    {
                        "session_id": sid,
                        "title": srow.title,
                        "worker": srow.worker,
                        "team": srow.team,
                        "date": _iso(srow.date),
                        "utterance_id": uid,
                        "start": u.start,
                        "end": u.end,
                        "speaker": u.speaker_id,
                        "role": roles.get(u.speaker_id, "other"),
                        "text": u.text,
                        "code": u.confirmed_code,
                        "principle": principle,
                        "score": score,
                        "note": note,
                        "context": [
                            {
                                "utterance_id": c.utterance_id,
                                "start": c.start,
                                "end": c.end,
                                "speaker": c.speaker_id,
                                "role": roles.get(c.speaker_id, "other"),
                                "text": c.text,
                                "code": c.confirmed_code,
                                "is_exemplar": c.utterance_id == uid,
                            }
                            for c in rows[max(0, pos - context) : pos + context + 1]
                        ],
                    }
                )
            return out

    def team_summary(self, user: User, team: str | None = None, worker: str | None = None) -> Any:
        """Confirmed principle scores and MITI summaries per group and month (pandas).

        Long format: ``group, team, worker, period, kind, measure, n_sessions, mean, median,
        min, max``; ``period`` is ``YYYY-MM`` or ``all``; ``kind`` is ``principle`` or
        ``miti``. Groups are each team plus ``service`` (all teams); with ``worker`` the one
        group is that worker (their own trend). Any group-period with fewer than
        ``MIN_GROUP`` sessions is left out: these are prompts for reflection, not a
        league table of individuals.
        """
        import pandas as pd

        user.require("team.view")
        with self.rtx() as s:
            q = _visible(select(SessionRow), user)
            if team:
                q = q.where(SessionRow.team == team)
            if worker:
                q = q.where(SessionRow.worker == worker)
            sessions = {r.id: r for r in s.scalars(q)}
            confirmed = list(
                s.scalars(
                    select(PrincipleScore).where(
                        PrincipleScore.confirmed.is_not(None),
                        PrincipleScore.session_id.in_(sessions),
                    )
                )
            )
        records = []
        seen: set[str] = set()
        for p in confirmed:
            r = sessions[p.session_id]
            seen.add(r.id)
            records.append(_summary_record(r, "principle", p.principle, p.confirmed))
        for sid in seen:
            r = sessions[sid]
            miti = (r.scores or {}).get("miti") or {}
            for k in TEAM_MITI_MEASURES:
                v = miti.get(k)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    records.append(_summary_record(r, "miti", k, float(v)))
        cols = [
            "group",
            "team",
            "worker",
            "period",
            "kind",
            "measure",
            "n_sessions",
            "mean",
            "median",
            "min",
            "max",
        ]
        if not records:
            return pd.DataFrame(columns=cols)
        df = pd.DataFrame.from_records(records)
        frames = []
        if worker:
            groups = [("worker:" + worker, df)]
        else:
            groups = [("team:" + t, g) for t, g in df.groupby("team")]
            if not team:
                groups.append(("service", df))
        for label, g in groups:
            for period_df, period in [(g, "all")] + [(pg, p) for p, pg in g.groupby("period")]:
                agg = (
                    period_df.groupby(["kind", "measure"])
                    .agg(
                        n_sessions=("session_id", "nunique"),
                        mean=("value", "mean"),
                        median=("value", "median"),
                        min=("value", "min"),
                        max=("value", "max"),
                    )
                    .reset_index()
                )
                agg = agg[agg["n_sessions"] >= MIN_GROUP]
                if agg.empty:
                    continue
                agg.insert(0, "period", period)
                agg.insert(0, "worker", worker or "")
                agg.insert(0, "team", label[5:] if label.startswith("team:") else (team or ""))
                agg.insert(0, "group", label)
                frames.append(agg)
        if not frames:
            return pd.DataFrame(columns=cols)
        return pd.concat(frames, ignore_index=True)[cols]

    def _training_rows(self, s: OrmSession, user: User) -> Iterator[dict[str, Any]]:
        q = _visible(select(SessionRow), user).order_by(SessionRow.created_at, SessionRow.id)
        for srow in s.scalars(q):
            roles = {
                k.speaker_id: k.role
                for k in s.scalars(select(SpeakerRow).where(SpeakerRow.session_id == srow.id))
            }
            version = _model_version(srow.models or {})
            prev = ""
            for u in s.scalars(
                select(UtteranceRow)
                .where(UtteranceRow.session_id == srow.id)
                .order_by(UtteranceRow.idx)
            ):
                if u.confirmed_code:
                    yield {
                        "session_id": srow.id,
                        "utterance_id": u.utterance_id,
                        "role": roles.get(u.speaker_id, "other"),
                        "text": u.text,
                        "prev_text": prev,
                        "code": u.confirmed_code,
                        "evaluator": u.confirmed_by or "",
                        "confirmed_at": _iso(u.confirmed_at) or "",
                        "model_version": version,
                    }
                prev = u.text

    def export_labels(self, path: Path, user: User) -> int:
        """Confirmed codes as the ``msw-audio tagger train --extra`` CSV; returns row count."""
        user.require("export")
        fields = [
            "session_id",
            "utterance_id",
            "role",
            "text",
            "prev_text",
            "code",
            "evaluator",
            "confirmed_at",
            "model_version",
        ]
        path = Path(path)
        tmp = path.with_name(path.name + ".partial")
        n = 0
        # A read transaction (one consistent snapshot): a long export must never hold the
        # write lock that evaluators' saves wait for.
        with self.rtx() as s, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for rec in self._training_rows(s, user):
                writer.writerow(rec)
                n += 1
        os.replace(tmp, path)
        with self.tx() as s:
            self._audit(s, user, "export.labels", "", "", rows=n)
        return n

    def export_scores(self, path: Path, user: User) -> int:
        """Sessions with confirmed principle scores as JSONL; returns the session count."""
        user.require("export")
        with self.rtx() as s:
            by_session: dict[str, dict[str, float]] = {}
            visible = _visible(select(SessionRow.id), user)
            for p in s.scalars(
                select(PrincipleScore).where(
                    PrincipleScore.confirmed.is_not(None), PrincipleScore.session_id.in_(visible)
                )
            ):
                by_session.setdefault(p.session_id, {})[p.principle] = p.confirmed
        path = Path(path)
        tmp = path.with_name(path.name + ".partial")
        with open(tmp, "w", encoding="utf-8") as fh:
            for sid in sorted(by_session):
                session = self.get_session(sid, user)
                fh.write(
                    json.dumps(
                        {
                            "session_id": sid,
                            "session": session.to_dict(),
                            "confirmed": by_session[sid],
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
        os.replace(tmp, path)
        with self.tx() as s:
            self._audit(s, user, "export.scores", "", "", sessions=len(by_session))
        return len(by_session)

    def agreement(self, user: User) -> dict[str, Any]:
        """How often the suggestions agree with evaluators (Cohen's kappa).

        ``codes``: overall kappa/accuracy of the top suggestion vs the confirmed code, and
        per code (one-vs-rest kappa); ``model_versions``: the same per tagger version;
        ``principles``: quadratic-weighted kappa and mean absolute error of suggested vs
        confirmed score. ``kappa`` is None where it is undefined (one class only).
        """
        user.require("agreement.view")
        visible = _visible(select(SessionRow.id), user)
        with self.rtx() as s:
            code_pairs = s.execute(
                select(Suggestion.code, UtteranceRow.confirmed_code, Suggestion.model_version)
                .join(
                    UtteranceRow,
                    (UtteranceRow.session_id == Suggestion.session_id)
                    & (UtteranceRow.utterance_id == Suggestion.utterance_id),
                )
                .where(Suggestion.rank == 0, UtteranceRow.confirmed_code.is_not(None),
                       Suggestion.session_id.in_(visible))
            ).all()
            score_pairs = s.execute(
                select(
                    PrincipleScore.principle, PrincipleScore.suggested, PrincipleScore.confirmed
                ).where(
                    PrincipleScore.confirmed.is_not(None), PrincipleScore.suggested.is_not(None),
                    PrincipleScore.session_id.in_(visible),
                )
            ).all()
        sugg = [p[0] for p in code_pairs]
        conf = [p[1] for p in code_pairs]
        per_code = {}
        for c in sorted(set(sugg) | set(conf)):
            a = [x == c for x in sugg]
            b = [x == c for x in conf]
            per_code[c] = {"kappa": _kappa(a, b), "n_confirmed": sum(b), "n_suggested": sum(a)}
        versions: dict[str, tuple[list[str], list[str]]] = {}
        for sg, cf, ver in code_pairs:
            versions.setdefault(ver or "unknown", ([], []))
            versions[ver or "unknown"][0].append(sg)
            versions[ver or "unknown"][1].append(cf)
        principles = {}
        for name in sorted({p[0] for p in score_pairs}):
            a = [round(p[1] * 2) for p in score_pairs if p[0] == name]
            b = [round(p[2] * 2) for p in score_pairs if p[0] == name]
            principles[name] = {
                "kappa": _kappa(a, b, weights="quadratic"),
                "mae": sum(abs(x - y) for x, y in zip(a, b, strict=True)) / (2 * len(a)),
                "n": len(a),
            }
        return {
            "codes": {
                "n": len(code_pairs),
                "kappa": _kappa(sugg, conf),
                "accuracy": _accuracy(sugg, conf),
                "per_code": per_code,
            },
            "model_versions": {
                v: {"n": len(a), "kappa": _kappa(a, b), "accuracy": _accuracy(a, b)}
                for v, (a, b) in versions.items()
            },
            "principles": principles,
        }

    # ------------------------------------------------------------------ erasure / audit
    def erase_session(self, session_id: str, user: User) -> None:
        """Remove every trace of a session: rows, audio, cached stages, job folders.

        The audit log keeps only who erased which session id and when (no content, no
        audio hash). Database rows go first (one transaction); then files, which
        ``sweep_orphans`` also removes should the process die in between.
        """
        user.require("session.erase")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            sha = row.recording_sha256
            job_ids = list(
                s.scalars(
                    select(Job.id).where((Job.audio_sha256 == sha) | (Job.session_id == session_id))
                )
            )
            s.execute(delete(Job).where(Job.id.in_(job_ids)))
            for model in (Decision, Suggestion, PrincipleScore, UtteranceRow, SpeakerRow):
                s.execute(delete(model).where(model.session_id == session_id))
            s.execute(delete(SessionRow).where(SessionRow.id == session_id))
            s.execute(delete(Recording).where(Recording.sha256 == sha))
            self._audit(s, user, "session.erase", "session", session_id)
        self._remove_files(sha, job_ids)
        self._compact()

    def _remove_files(self, sha: str, job_ids: list[str]) -> None:
        for folder in (self.paths.audio, self.paths.incoming):
            for f in folder.glob(f"{sha}*"):
                f.unlink(missing_ok=True)
            for f in folder.glob(f".{sha}*"):
                f.unlink(missing_ok=True)
        shutil.rmtree(self.paths.cache_for(sha), ignore_errors=True)
        for jid in job_ids:
            shutil.rmtree(self.paths.job_dir(jid), ignore_errors=True)

    def _compact(self) -> None:
        """Push erased pages out of the SQLite WAL so no copy lingers in the data folder."""
        if not self.is_sqlite:
            return
        with self.engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def sweep_orphans(self) -> list[str]:
        """Delete files in the data folder that no recording or job refers to any more."""
        with self.rtx() as s:
            shas = set(s.scalars(select(Recording.sha256))) | set(
                s.scalars(select(Job.audio_sha256))
            )
            jobs = set(s.scalars(select(Job.id)))
        removed = []
        for folder in (self.paths.audio, self.paths.incoming):
            for f in folder.iterdir():
                if f.name.lstrip(".")[:64] not in shas:
                    f.unlink(missing_ok=True)
                    removed.append(str(f))
        for d in self.paths.cache.iterdir():
            if _SHA_RE.match(d.name) and d.name not in shas:  # keep model caches etc.
                shutil.rmtree(d, ignore_errors=True)
                removed.append(str(d))
        for d in self.paths.jobs.iterdir():
            if d.name not in jobs:
                shutil.rmtree(d, ignore_errors=True)
                removed.append(str(d))
        return removed

    def erase_older_than(self, days: int, user: User) -> list[str]:
        """Retention: erase sessions whose visit date (else ingest date) is > ``days`` ago."""
        user.require("session.erase")
        if days < 0:
            raise InputError("retention days must be 0 or more")
        cutoff = utcnow() - timedelta(days=days)
        with self.rtx() as s:
            ids = [
                r.id
                for r in s.scalars(select(SessionRow))
                if (datetime.combine(r.date, datetime.min.time()) if r.date else r.created_at)
                < cutoff
            ]
        for sid in ids:
            self.erase_session(sid, user)
        with self.tx() as s:
            self._audit(s, user, "retention", "", "", days=days, erased=len(ids))
        return ids

    def audit_log(self, user: User, limit: int = 1000) -> list[dict[str, Any]]:
        """Newest first. There is deliberately no API to change or delete entries."""
        user.require("audit.view")
        with self.rtx() as s:
            return [
                {
                    "at": _iso(a.at),
                    "user": a.user_name,
                    "action": a.action,
                    "target_type": a.target_type,
                    "target_id": a.target_id,
                    "detail": a.detail,
                }
                for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
            ]


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def _check_expected(utt: UtteranceRow, expected: Any) -> None:
    if expected is ANY_VALUE or (expected or None) == (utt.confirmed_code or None):
        return
    when = _iso(utt.confirmed_at) if utt.confirmed_at else None
    who = utt.confirmed_by if utt.confirmed_code else None
    shown = utt.confirmed_code or "no confirmed code"
    raise StaleEdit(
        f"changed by {who or 'someone'}{f' at {when}' if when else ''} to {shown} since "
        "your view was drawn", current=utt.confirmed_code, by=who, at=when)


def _check_teams(teams: tuple[str, ...] | list[str]) -> list[str]:
    cleaned = sorted({str(t).strip()[:255] for t in teams if str(t).strip()})
    if not cleaned:
        raise InputError("give at least one team (or '*' for every team)")
    return cleaned


def _visible(q, user: User):  # noqa: ANN001, ANN202 - a SQLAlchemy Select
    """``q`` (over SessionRow) limited to the sessions ``user`` may see."""
    return q if user.all_teams else q.where(SessionRow.team.in_(sorted(user.teams)))


def _user(row: UserRow) -> User:
    teams = row.teams if row.teams is not None else [ALL_TEAMS]
    return User(name=row.name, role=row.role, grants=frozenset(row.grants or ()), id=row.id,
                credential=credential_stamp(row.password_hash or ""), teams=frozenset(teams))


def _read_session(out_dir: Path) -> Session:
    path = out_dir / "session.json"
    if not path.is_file():
        raise InputError(f"{out_dir} has no session.json (is it a `msw-audio process` output?)")
    try:
        return Session.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a valid session.json: {exc}") from None


def _summary_record(r: SessionRow, kind: str, measure: str, value: float) -> dict[str, Any]:
    when = r.date or r.created_at.date()
    return {
        "session_id": r.id,
        "team": r.team or "(no team)",
        "worker": r.worker,
        "period": when.strftime("%Y-%m"),
        "kind": kind,
        "measure": measure,
        "value": value,
    }


def _kappa(a: list[Any], b: list[Any], weights: str | None = None) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if not a or len(set(a) | set(b)) < 2:
        return None
    k = cohen_kappa_score(a, b, weights=weights)
    return None if k != k else float(k)  # NaN -> None


def _accuracy(a: list[Any], b: list[Any]) -> float | None:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else None


__all__ = [
    "DataPaths",
    "PermissionDenied",
    "SessionSummary",
    "Store",
    "default_data_dir",
    "safe_ext",
    "safe_name",
]
