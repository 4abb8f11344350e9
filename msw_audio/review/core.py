"""The store's core: engine, transactions, the audit log, codebooks and scoped row access.

Every concern of the store (users, ingest, reading, decisions, analytics, exports,
erasure) is a mixin over ``StoreCore`` in its own module; ``review.store.Store`` combines
them. Scope and permission checks live here (``_session_row(user=)``, ``_visible``) so
every concern applies the same rule.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from msw_audio.coding.codebook import Codebook, load_codebook, resolve_codebook
from msw_audio.errors import InputError
from msw_audio.records import (
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
    User,
    credential_stamp,
)
from msw_audio.review.db import (
    AuditEntry,
    Recording,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UserRow,
    UtteranceRow,
)
from msw_audio.review.paths import MIGRATIONS_DIR, DataPaths, default_data_dir


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


class StoreCore:
    """Engine, transactions, audit and codebooks; the concern mixins build on it."""

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
        #: session id -> (fingerprint of its suggestion rows, utterance id -> ranked
        #: (code, probability, source)); see ``_suggestions``
        self._suggestion_cache: OrderedDict[str, tuple[tuple, dict[str, list[tuple]]]] = (
            OrderedDict()
        )
        #: session id -> (utterance id -> (its row, its suggestions, its Utterance), the
        #: features of the last rescore); see ``_scoring_session``
        self._scoring_cache: OrderedDict[str, tuple[dict[str, tuple], Any]] = OrderedDict()
        #: bumped by every change to a login in this process (``Users``): the login gate
        #: drops its short cache of users at once, so a disable or reset made in the
        #: Admin tab ends that user's open logins at their very next request
        self.users_epoch = 0
        #: who must hear at once that a user's open logins end (a password reset, a
        #: disable): the web server's login sessions subscribe (``on_logins_end``)
        self._login_enders: list[Callable[[], Callable[[str], Any] | None]] = []

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, data_dir: Path | None = None, url: str | None = None,
             codebook: Codebook | None = None) -> StoreCore:
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

    def __enter__(self) -> StoreCore:
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

    def on_logins_end(self, listener: Callable[[str], Any]) -> None:
        """Call ``listener(user name)`` when that user's open logins must end (password
        reset, disabled). Why here: the store makes the change, and a served app (which
        holds the logins) must end them in the same moment, not at their next request.
        A bound method is held weakly, so an app that is gone is not kept alive."""
        if hasattr(listener, "__self__"):
            self._login_enders.append(weakref.WeakMethod(listener))  # type: ignore[arg-type]
        else:
            self._login_enders.append(lambda: listener)

    def _end_logins(self, name: str) -> None:
        """Tell every listener that ``name``'s open logins end now."""
        self.users_epoch += 1
        for ref in list(self._login_enders):
            listener = ref()
            if listener is None:
                self._login_enders.remove(ref)
            else:
                listener(name)

    def audit(
        self,
        s: OrmSession,
        user: User | str,
        action: str,
        target_type: str = "",
        target_id: str = "",
        **detail: Any,
    ) -> None:
        """Append one audit row inside the caller's transaction ``s``.

        Public so the job queue (which owns the ``jobs`` table) logs its state changes in the
        same append-only trail, in the same transaction as the change itself.
        """
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


    # ------------------------------------------------------------------ scoped rows
    def _session_row(self, s: OrmSession, session_id: str, lock: bool = False,
                     user: User | None = None) -> SessionRow:
        """The session's row; with ``user``, only if that login may see its team (else the
        same "no session" as for an id that does not exist: no existence leak)."""
        q = select(SessionRow).where(SessionRow.id == session_id)
        if lock and not self.is_sqlite:
            q = q.with_for_update()
        row = s.scalar(q)
        if row is None or (user is not None and not user.sees_session(row.team, row.worker)):
            raise InputError(f"no session {session_id!r}")
        return row

    def _session_from_rows(self, s: OrmSession, row: SessionRow, words: bool = True) -> Session:
        """The session as stored now: confirmed roles, confirmed codes first (probability 1,
        ``source="evaluator"``), then the model's other suggestions; scores as last computed.

        Rows are read as plain tuples, not ORM objects: every decision rescores the session
        from this, and on a 1,000-line visit building ~60,000 ORM instances was most of a
        decision's time. ``words=False`` (the rescore: figures need no word timings) also
        skips decoding each line's word list.
        """
        session_id = row.id
        rec = s.get(Recording, row.recording_sha256)
        speakers = list(
            s.scalars(select(SpeakerRow).where(SpeakerRow.session_id == session_id))
        )
        columns = [UtteranceRow.utterance_id, UtteranceRow.start, UtteranceRow.end,
                   UtteranceRow.speaker_id, UtteranceRow.text, UtteranceRow.confirmed_code]
        if words:
            columns.append(UtteranceRow.words)
        utts = s.execute(
            select(*columns)
            .where(UtteranceRow.session_id == session_id)
            .order_by(UtteranceRow.idx)
        ).all()
        sugg = self._suggestions(s, session_id)
        utterances = [_utterance(u, sugg.get(u[0], ()), words) for u in utts]
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

    def _scoring_session(self, s: OrmSession, row: SessionRow) -> tuple[Session, Any]:
        """The session as the rescore needs it (``_session_from_rows(words=False)`` less the
        turns and scores, which no figure reads), and the features of this process's last
        rescore of it (``session_features(reuse=)``), or None.

        Why: every decision rescores the whole session, and building ~1,000 ``Utterance``
        objects and their feature views each time was most of a decision on a long visit
        (issue 12), although one decision changes one line (a role: one speaker's lines).
        The rows are still read every time — they are the truth, whichever process wrote
        them — but a line whose row (id, times, speaker, text, confirmed code) and
        suggestions equal the ones kept from the last rescore keeps its ``Utterance``
        object, and so its feature view. Nothing is trusted without that comparison, so a
        write by another process, a rolled-back transaction or a correction is seen.
        The kept objects are never changed in place (a changed line is a new object).
        """
        session_id = row.id
        s.flush()
        conn = s.connection()  # plain rows: the ORM's statement layer cost ~1.5 ms here
        speakers = conn.execute(
            select(SpeakerRow.speaker_id, SpeakerRow.role, SpeakerRow.role_confidence,
                   SpeakerRow.talk_time).where(SpeakerRow.session_id == session_id)
        ).all()
        rows = conn.execute(
            select(UtteranceRow.utterance_id, UtteranceRow.start, UtteranceRow.end,
                   UtteranceRow.speaker_id, UtteranceRow.text, UtteranceRow.confirmed_code)
            .where(UtteranceRow.session_id == session_id)
            .order_by(UtteranceRow.idx)
        ).all()
        sugg = self._suggestions(s, session_id)
        with self._lock:
            kept = self._scoring_cache.get(session_id)
        lines, feats = kept if kept is not None else ({}, None)
        new_lines: dict[str, tuple[tuple, Any, Utterance]] = {}
        utterances = []
        for u in rows:
            key = tuple(u)
            ranked = sugg.get(key[0], ())
            old = lines.get(key[0])
            if old is not None and old[0] == key and (old[1] is ranked or old[1] == ranked):
                utt = old[2]
            else:
                utt = _utterance(key, ranked, words=False)
            new_lines[key[0]] = (key, ranked, utt)
            utterances.append(utt)
        with self._lock:
            self._scoring_cache[session_id] = (new_lines, feats)
            self._scoring_cache.move_to_end(session_id)
            while len(self._scoring_cache) > self.SUGGESTION_CACHE_SESSIONS:
                self._scoring_cache.popitem(last=False)
        session = Session(
            audio=AudioInfo(path="", sha256=row.recording_sha256, duration=row.duration or 0.0),
            speakers=[Speaker(id=k[0], role=k[1], role_confidence=k[2], talk_time=k[3])
                      for k in speakers],
            utterances=utterances,
            models=dict(row.models or {}),
            language=row.language,
            schema_version=row.schema_version,
        )
        return session, feats

    def _keep_features(self, session_id: str, session: Session, feats: Any) -> None:
        """Keep the features just computed from ``_scoring_session``'s session, for the next
        rescore's ``reuse`` (only if the kept lines are still that session's)."""
        with self._lock:
            kept = self._scoring_cache.get(session_id)
            if kept is not None and all(
                kept[0].get(u.id, (None, None, None))[2] is u for u in session.utterances
            ):
                self._scoring_cache[session_id] = (kept[0], feats)

    #: sessions whose suggestion rows are kept between rescores (the ones being coded now)
    SUGGESTION_CACHE_SESSIONS = 8

    def _suggestions(self, s: OrmSession, session_id: str) -> dict[str, list[tuple]]:
        """The session's model suggestions: utterance id -> [(code, probability, source)]
        in rank order.

        Why a cache: every coding decision rescores the whole session, and reading its
        suggestion rows back was the largest part of a decision on a long visit (2,080 rows
        of a 1,040-line session: 7–14 ms, one index lookup per row and a sort). Suggestion
        rows are only ever inserted and deleted, never updated, so an aggregate over them —
        count, highest id and two id-weighted sums of probability and code length, read by
        SQLite or PostgreSQL from the same index in under 2 ms — changes whenever any
        process adds or removes one, and the rows are read again then. Bounded to the few
        sessions being coded (``SUGGESTION_CACHE_SESSIONS``).
        """
        stamp = tuple(s.execute(
            select(func.count(Suggestion.id), func.max(Suggestion.id),
                   func.sum(Suggestion.id * Suggestion.probability),
                   func.sum(Suggestion.id * func.length(Suggestion.code)))
            .where(Suggestion.session_id == session_id)
        ).one())
        with self._lock:
            hit = self._suggestion_cache.get(session_id)
            if hit is not None and hit[0] == stamp:
                self._suggestion_cache.move_to_end(session_id)
                return hit[1]
        sugg: dict[str, list[tuple]] = {}
        for utt_id, code, probability, source in s.execute(
            select(Suggestion.utterance_id, Suggestion.code, Suggestion.probability,
                   Suggestion.source)
            .where(Suggestion.session_id == session_id)
            .order_by(Suggestion.utterance_id, Suggestion.rank)
        ):
            sugg.setdefault(utt_id, []).append((code, probability, source))
        with self._lock:
            self._suggestion_cache[session_id] = (stamp, sugg)
            self._suggestion_cache.move_to_end(session_id)
            while len(self._suggestion_cache) > self.SUGGESTION_CACHE_SESSIONS:
                self._suggestion_cache.popitem(last=False)
        return sugg

    # ------------------------------------------------------------------ codebooks
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


def _utterance(u: Any, ranked: Any, words: bool) -> Utterance:
    """One utterance from its row ``(id, start, end, speaker, text, confirmed code[, words])``
    and its ranked model suggestions: the confirmed code first (probability 1,
    ``source="evaluator"``), then the model's other suggestions."""
    model = [CodeSuggestion(*c) for c in ranked]
    confirmed = u[5]
    if confirmed:
        model = [CodeSuggestion(confirmed, 1.0, "evaluator")] + [
            c for c in model if c.code != confirmed
        ]
    return Utterance(
        id=u[0],
        start=u[1],
        end=u[2],
        speaker=u[3],
        text=u[4],
        words=[Word(**w) for w in (u[6] or [])] if words else [],
        codes=model,
    )


def _visible(q, user: User):  # noqa: ANN001, ANN202 - a SQLAlchemy Select
    """``q`` (over SessionRow) limited to the sessions ``user`` may see."""
    if user.own_only:
        q = q.where(SessionRow.worker == user.worker_name)
    return q if user.all_teams else q.where(SessionRow.team.in_(sorted(user.teams)))


def _blind_session_ids(user: User):  # noqa: ANN202 - a SQLAlchemy Select
    """Ids of the sessions ``user`` is coding blind right now (an open second pass).

    Why here: every view that pools confirmed codes or scores (exemplars, team figures,
    agreement, the library) leaves these out for that user, or the first coder's
    decisions would reach the blind coder through an aggregate.
    """
    from msw_audio.review.db import BlindAssignment

    return select(BlindAssignment.session_id).where(
        BlindAssignment.coder == user.name, BlindAssignment.finished_at.is_(None)
    )


def _not_blind(q, user: User):  # noqa: ANN001, ANN202 - a SQLAlchemy Select
    """``q`` (over SessionRow) without the sessions ``user`` is coding blind."""
    return q.where(SessionRow.id.not_in(_blind_session_ids(user)))


def _user(row: UserRow) -> User:
    teams = row.teams if row.teams is not None else [ALL_TEAMS]
    return User(name=row.name, role=row.role, grants=frozenset(row.grants or ()), id=row.id,
                credential=credential_stamp(row.password_hash or ""), teams=frozenset(teams),
                worker=row.worker or "", active=bool(row.active))
