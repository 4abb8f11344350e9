"""The review store: sessions, evaluator decisions, users and audit log in one database.

``Store.open(data_dir)`` gives a SQLite database in WAL mode inside a managed data folder
(or PostgreSQL via ``url``), migrated to the latest Alembic revision. Every public method
takes the acting ``User`` and checks ``User.require(action)`` *here*, on the server side,
so the app, the CLI and any later API share one permission rule (``msw_audio.review.auth``).
Every write is one short transaction, saved at once and audit-logged, so a reload or a
crash loses at most the click in flight.

``Store`` is the sum of one mixin per concern, each in its own module over
``review.core.StoreCore`` (see docs/architecture.md); the folder layout is ``review.paths``.
``DoubleCoding`` is first in the bases: it wraps reads and decisions for a blind second
coder and hands everyone else to the ordinary methods (``super()``).
"""

from __future__ import annotations

from msw_audio.errors import PermissionDenied
from msw_audio.review.accuracy import Accuracy
from msw_audio.review.analytics import MIN_GROUP, TEAM_MITI_MEASURES, Analytics
from msw_audio.review.annotation_import import AnnotationImport
from msw_audio.review.by_exception import ByException
from msw_audio.review.core import StoreCore, migrate
from msw_audio.review.decisions import ANY_VALUE, Decisions
from msw_audio.review.double_coding import DoubleCoding
from msw_audio.review.erasure import Erasure
from msw_audio.review.exports import Exports
from msw_audio.review.family import Family
from msw_audio.review.history import History
from msw_audio.review.ingest import MAX_RECORDING_BYTES, Ingest
from msw_audio.review.keymap import KeyMaps
from msw_audio.review.library import Library
from msw_audio.review.paths import DB_NAME, DataPaths, default_data_dir, safe_ext, safe_name
from msw_audio.review.pseudonyms import Pseudonyms
from msw_audio.review.reading import STATUSES, Reading, SessionSummary
from msw_audio.review.retime import Retime
from msw_audio.review.session_meta import SessionMeta
from msw_audio.review.supervision import Supervision
from msw_audio.review.transcript_search import TranscriptSearch
from msw_audio.review.users import Users


class Store(DoubleCoding, Library, AnnotationImport, Retime, Accuracy, Users, Ingest,
            Supervision, Decisions, Analytics, Exports, Reading, Family, Erasure, History,
            ByException, SessionMeta, TranscriptSearch, Pseudonyms, KeyMaps, StoreCore):
    """Review store API used by the app, the CLI and the job worker.

    ``DoubleCoding`` comes first on purpose: it wraps the reading and decision methods so a
    blind second coder is answered from their own decisions (``review.double_coding``).
    """


__all__ = [
    "ANY_VALUE",
    "DB_NAME",
    "MAX_RECORDING_BYTES",
    "MIN_GROUP",
    "STATUSES",
    "TEAM_MITI_MEASURES",
    "DataPaths",
    "PermissionDenied",
    "SessionSummary",
    "Store",
    "StoreCore",
    "default_data_dir",
    "migrate",
    "safe_ext",
    "safe_name",
]
