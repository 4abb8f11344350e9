"""Every Gradio event handler refuses the wrong role on the server (issue 13, test 2).

Every login receives the whole Gradio config (tabs a role cannot use are only hidden), so
anyone signed in can post any handler of the Blocks app by name. ``HANDLERS`` below is the
one policy table: for each handler (its ``api_name``, as ``/ui/gradio_api/info`` lists it)
the action of ``review.auth.PERMISSIONS`` it needs — the roles allowed are derived from that
table, never copied from a response — and the inputs it is called with. A handler the app
has and the table lacks fails ``test_every_handler_has_a_policy_row``.

Each handler is called over real HTTP through Gradio's queue (``queue/join``, then the
``queue/data`` event stream; the way the page calls it) against a served app and a real
store, as (a) no login, (b) each role the table does not allow, (c) each allowed role of
team North with team South's session, family or team where the handler takes one. Every
call must be refused — an error event or the store's refusal ("may not …", "no session …",
"unknown family …") — with none of team South's names or text in the answer, and the store's
tables and the data folder exactly as before. Gradio's own choice check is taken out of the
way on purpose: each call runs in a Gradio session whose pickers an admin's page load filled
(Gradio keys its per-page state by the client's session hash, not by the login), so the
values reach the handler and it is the handler (the store, given the signed-in user) that
refuses. The guard binds a page to the login that first used it
(``test_gradio_pages.py``); the test hands each primed page over to the caller on purpose
(``GradioGuard.pages.forget``), which no request can do. ``test_an_allowed_role_gets_through``
proves the same inputs work for a role the table allows, so a refusal above is the role's,
not bad input's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from msw_audio.review.auth import PERMISSIONS, USER_ROLES, system_user
from msw_audio.speech.audio import sha256_file
from msw_audio.web.gradio_guard import UPLOAD_ACTIONS
from tests.conftest_app import DEMO_AUDIO, PASSWORD, make_store, repeated_recording, serve_app
from tests.conftest_app import demo_session as _demo_session
from tests.conftest_app import write_session_dir as _write_demo_dir
from tests.security.gradio_calls import (
    event,
    guard_of,
    handler_table,
    run_direct,
    upload_file,
)
from tests.store_helpers import build_session, fake_sha, write_session_dir
from tests.test_app import _login, _request

#: Logins of team North (as in the route matrix); the admin sees every team by role.
LOGINS = {"admin": "ada_n", "evaluator": "eva_n", "coach": "cora_n",
          "practitioner": "sam", "researcher": "rita_n"}
#: What team South holds that no North login may read: its worker, family pseudonym, a
#: line of its transcript and its family's goal.
SOUTH_WORKER, SOUTH_FAMILY = "Kim", "Family S"
SOUTH_LINE = "Zanzibar marmalade keeps the kettle singing"
SOUTH_GOAL = "Walk the greyhound before school"
SOUTH_SECRETS = (SOUTH_WORKER, SOUTH_FAMILY, SOUTH_LINE, SOUTH_GOAL)
#: How the store (or Gradio, for a value no picker of this page holds) says no.
REFUSAL = re.compile(r"may not|no session|unknown family|not in the list of choices|"
                     r"no open blind pass|is not one of yours")
#: How a handler marks an answer that did not do what was asked (tab_*.py).
FAILED = re.compile(r"\\u26a0|\\u2717|⚠|✗")


# --------------------------------------------------------------------------- the policy
@dataclass(frozen=True)
class Handler:
    """One event handler: what it needs, and how to call it.

    ``need``: an action of ``PERMISSIONS`` (the roles allowed are that action's), or
    ``LOGIN`` (any signed-in login: the handler reads only what the login may see).
    ``data(ctx)``: its inputs for one of the caller's own sessions / families; ``other(ctx)``:
    the same with team South's, for handlers that take a session, family or team.
    ``quiet``: the handler answers a wrong role with nothing (an empty picker, a skipped
    update) instead of a message; then "refused" means "no data in the answer".
    ``filters``: South's id is a filter of a list (the queue's current pick, a team or
    worker filter), not a thing to act on: the list comes back holding only what the login
    sees — no refusal, but nothing of South.
    """

    need: str
    data: Callable[[Ctx], list[Any]] = lambda c: []
    other: Callable[[Ctx], list[Any]] | None = None
    quiet: bool = False
    filters: bool = False
    event: Callable[[Ctx, bool], Any] | None = None  # event data (a table row's select)
    #: what an admin does first in the call's Gradio session so its pickers hold the
    #: values (``Ctx.prime``): the page load, the Double coding tab's pickers, an upload
    prime: tuple[str, ...] = ("page_load",)

    def allowed(self) -> frozenset[str]:
        return frozenset(USER_ROLES) if self.need == LOGIN else PERMISSIONS[self.need]


LOGIN = "login"


def _file(ctx: Ctx) -> dict[str, Any]:
    """A recording uploaded through Gradio's upload route by an admin, as a file input."""
    return {"path": ctx.upload(DEMO_AUDIO), "orig_name": "visit.ogg",
            "meta": {"_type": "gradio.FileData"}}


def _row(ctx: Ctx, other: bool) -> dict[str, Any]:
    """A click on the queue row of the caller's own session (or South's), in the queue an
    admin's page load put into this Gradio session."""
    row = ctx.admin_ids.index(ctx.other if other else ctx.own)
    return {"index": [row, 1], "value": "x", "selected": True}


_LIB = ["", "", "", "", ""]
_ORDER = "Time order"

#: api_name → policy. One row per named endpoint of ``/ui/gradio_api/info``.
HANDLERS: dict[str, Handler] = {
    # --- every tab: the page load and the worker banner (tab_upload_state)
    "page_load": Handler(LOGIN),
    "worker_banner": Handler("job.view"),
    # --- Review tab (tab_review.py)
    "review_refresh": Handler("session.view", lambda c: [c.own], lambda c: [c.other],
                              filters=True),
    "review_open": Handler("session.view", lambda c: [c.own, _ORDER],
                           lambda c: [c.other, _ORDER]),
    "review_order": Handler("session.view", lambda c: [c.own, _ORDER],
                            lambda c: [c.other, _ORDER]),
    "review_pick": Handler("session.view", lambda c: [_ORDER], lambda c: [_ORDER],
                           event=_row),
    "review_ingest": Handler(
        "session.ingest",
        lambda c: [c.import_dir, c.import_audio, "Sam", "North", "2026-11-05", "", ""],
        lambda c: [c.import_dir, c.import_audio, "Kim", "South", "2026-11-05", "", ""]),
    "review_upload": Handler(
        "job.enqueue",
        lambda c: [_file(c), "Sam", "North", "2026-11-06", "", "", ""],
        lambda c: [_file(c), "Sam", "South", "2026-11-06", "", "", ""]),
    # the session is the one the upload named (gr.State): the caller's own, or South's,
    # from an admin's re-upload of that recording into this Gradio session (``Ctx.prime``)
    "review_update_meta": Handler("session.edit", lambda c: ["", "", "2026-11-07", "", ""],
                                  lambda c: ["", "", "2026-11-07", "", ""]),
    "review_jobs": Handler("job.view"),
    "review_tick": Handler("session.view", lambda c: [c.own], lambda c: [c.other],
                           filters=True),
    # --- Coach library (tab_library.py)
    **{name: Handler("exemplars.view", lambda c: list(_LIB),
                     lambda c: ["", "", "", SOUTH_WORKER, "South"], filters=True)
       for name in ("library_find", "library_search", "library_open")},
    # --- Team reflection and families' progress (tab_team.py, tab_family.py)
    "team_show": Handler("team.view", lambda c: ["", "principle"],
                         lambda c: ["South", "principle"], filters=True),
    "family_progress": Handler("team.view", lambda c: [""], lambda c: ["South"],
                               filters=True),
    "family_progress_own": Handler("team.view"),
    # --- Families (tab_family.py)
    "family_show": Handler("session.view", lambda c: ["Family N"],
                           lambda c: [SOUTH_FAMILY]),
    "family_pick": Handler("session.view", lambda c: ["Family N"], lambda c: [SOUTH_FAMILY]),
    "family_add": Handler("session.edit", lambda c: [c.fresh("Family"), "North"],
                          lambda c: [c.fresh("Family"), "South"]),
    "family_goal": Handler("session.edit", lambda c: ["Family N", "Read together", "2026-11-02"],
                           lambda c: [SOUTH_FAMILY, "Read together", "2026-11-02"]),
    "family_rate": Handler("session.edit", lambda c: ["Family N", 1, 5, "2026-11-03", ""],
                           lambda c: [SOUTH_FAMILY, 1, 5, "2026-11-03", ""]),
    "family_feedback": Handler("session.edit", lambda c: ["Family N", "2026-11-02", 4, "ok"],
                               lambda c: [SOUTH_FAMILY, "2026-11-02", 4, "ok"]),
    # --- Supervision (tab_supervision.py)
    "supervision_show": Handler("session.view", lambda c: [c.sup_own],
                                lambda c: [c.sup_other]),
    "supervision_pick": Handler("session.view", lambda c: [c.sup_own],
                                lambda c: [c.sup_other]),
    "supervision_confirm": Handler("session.edit", lambda c: [c.sup_own, c.dim, 3, ""],
                                   lambda c: [c.sup_other, c.dim, 3, ""]),
    "supervision_own": Handler("team.view"),
    "supervision_team": Handler("team.view"),
    # --- Research (tab_research.py)
    "research_agreement": Handler("agreement.view"),
    # --- Double coding (tab_double_coding.py)
    "double_coding_open": Handler("session.view"),
    "double_coding_coders": Handler("session.assign", lambda c: [c.own], lambda c: [c.other],
                                    quiet=True),
    "double_coding_assign": Handler("session.assign", lambda c: [c.own, "eve2"],
                                    lambda c: [c.other, "eve2"]),
    "double_coding_report": Handler("agreement.view", lambda c: [c.own, ""],
                                    lambda c: [c.other, ""]),
    # --- Admin (tab_admin.py): each acts on the login "vic" or the session "erase me"
    "admin_refresh": Handler("user.manage"),
    "admin_tick": Handler("user.manage", quiet=True),
    "admin_add_user": Handler("user.manage", lambda c: [
        c.fresh("user"), "admin", "*", [], "", "forged-password-1", "forged-password-1"]),
    "admin_pick": Handler("user.manage", lambda c: ["vic"]),
    "admin_disable": Handler("user.manage", lambda c: ["vic"]),
    "admin_enable": Handler("user.manage", lambda c: ["vic"]),
    "admin_role": Handler("user.manage", lambda c: ["vic", "coach"]),
    "admin_teams": Handler("user.manage", lambda c: ["vic", "South"]),
    "admin_grant": Handler("user.manage", lambda c: ["vic", "export"]),
    "admin_revoke": Handler("user.manage", lambda c: ["vic", "export"]),
    "admin_reset_password": Handler("user.manage", lambda c: [
        "vic", "forged-password-1", "forged-password-1"]),
    # only the erase button's state (typed id == chosen id): no store, nothing to refuse
    "admin_erase_typed": Handler(LOGIN, lambda c: [c.erase_me, c.erase_me]),
    "admin_erase_pick": Handler(LOGIN, lambda c: [c.erase_me, c.erase_me]),
    "admin_erase": Handler("session.erase", lambda c: [c.erase_me, c.erase_me]),
    "admin_retention": Handler("user.manage", lambda c: [30]),
}
#: Handlers whose inputs no picker narrows (buttons, text boxes, fixed choices): called in
#: a fresh Gradio session. And the ones that need more than the page load first.
for _name in ("page_load", "worker_banner", "review_ingest", "review_upload", "review_jobs",
              "library_find", "library_search", "library_open", "family_progress_own",
              "family_show", "family_pick", "family_add", "family_goal", "family_rate",
              "family_feedback", "supervision_own", "supervision_team", "research_agreement",
              "double_coding_open", "admin_refresh", "admin_tick", "admin_add_user",
              "admin_retention"):
    HANDLERS[_name] = replace(HANDLERS[_name], prime=())
for _name, _steps in {"review_update_meta": ("upload",),
                      "double_coding_coders": ("double_coding_open",),
                      "double_coding_assign": ("double_coding_open", "double_coding_coders"),
                      "double_coding_report": ("double_coding_open",)}.items():
    HANDLERS[_name] = replace(HANDLERS[_name], prime=_steps)


# --------------------------------------------------------------------------- the app
@dataclass
class Ctx:
    """The served app and what the calls name."""

    store: Any
    base: str
    own: str  # North, worker Sam (the practitioner's own)
    other: str  # South, worker Kim
    sup_own: str  # supervision sessions, North and South
    sup_other: str
    erase_me: str  # a North session the admin's erase may take
    import_dir: str  # a processed session and its recording in <data>/import
    import_audio: str
    south_audio: Path
    dim: str
    cookies: dict[str, str] = field(default_factory=dict)
    admin_ids: list[str] = field(default_factory=list)
    deps: dict[str, dict[str, Any]] = field(default_factory=dict)
    n: int = 0
    tables: Any = None  # the store's tables, reflected once (``snapshot``)
    guard: Any = None  # the app's GradioGuard: primed pages are handed to the caller

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n:03d}"

    def upload(self, audio: Path) -> str:
        """``audio`` through Gradio's upload route as the admin; its path on the server."""
        status, body = upload_file(self.base, self.cookies["admin"], audio)
        assert status == 200, (status, body)
        return json.loads(body)[0]

    def prime(self, session_hash: str, steps: tuple[str, ...], other: bool = False) -> None:
        """An admin's page in this Gradio session, as far as ``steps`` go: after the page
        load every picker holds every value; ``upload``: the upload form names the own
        session, or South's (its recording uploaded again: "already in the store")."""
        admin = self.cookies["admin"]
        for step in steps:
            if step == "upload":
                audio = self.south_audio if other else DEMO_AUDIO
                known = {"path": self.upload(audio), "orig_name": "again.ogg",
                         "meta": {"_type": "gradio.FileData"}}
                name, data = "review_upload", [known, "", "", "", "", "", ""]
            else:
                name, data = step, {"double_coding_coders": [self.own]}.get(step, [])
            ok, out = event(self, admin, name, data, session_hash)
            assert ok and REFUSAL.search(out) is None, (name, out)
        # the admin's page, handed to whoever calls next (the guard would refuse them)
        self.guard.pages.forget("h:" + session_hash)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Iterator[Ctx]:
    from msw_audio.coding.codebook import codebook_for_recording_type, load_codebook
    from msw_audio.scoring.supervision import load_supervision_rubric
    from msw_audio.web.server import create_app

    root = tmp_path_factory.mktemp("handlers")
    store, own = make_store(root / "data")  # the demo visit: North, worker Sam
    admin = system_user("test")
    south_audio, _ = repeated_recording(2, root / "south.ogg")
    south = _demo_session()
    for u in south.utterances[:6]:
        u.text = SOUTH_LINE
    south.audio.sha256, south.audio.path = sha256_file(south_audio), ""
    other = store.ingest(_write_demo_dir(south, root / "south-out"),
                         meta={"team": "South", "worker": SOUTH_WORKER,
                               "family": SOUTH_FAMILY}, audio_path=south_audio)
    for role, name in LOGINS.items():
        store.add_user(name, role, PASSWORD, teams=("North",),
                       worker="Sam" if role == "practitioner" else None)
    for name in ("eve2", "vic"):
        store.add_user(name, "evaluator", PASSWORD, teams=("North",))
    store.add_family("Family N", "North", admin)
    store.add_goal("Family N", "Talk at breakfast", "2026-11-01", admin)
    store.add_family(SOUTH_FAMILY, "South", admin)
    store.add_goal(SOUTH_FAMILY, SOUTH_GOAL, "2026-11-01", admin)
    book = load_codebook(codebook_for_recording_type("supervision")).to_record()
    sups = []
    for team, worker in (("North", "Sam"), ("South", SOUTH_WORKER)):
        sup = build_session(fake_sha(f"supervision-{team}"))
        sup.models["codebook"] = book
        if team == "South":
            sup.utterances[0].text = SOUTH_LINE
        sups.append(store.ingest(write_session_dir(root / f"sup-{team}", sup),
                                 meta={"team": team, "worker": worker,
                                       "recording_type": "supervision"}))
    erase_me = store.ingest(write_session_dir(root / "erase-me", build_session(fake_sha("e"))),
                            meta={"team": "North", "worker": "Sam", "title": "erase me"})
    # a processed session and its (new) recording in the import folder, for the ingest form
    imports = store.paths.imports
    imports.mkdir(parents=True, exist_ok=True)
    rec, _ = repeated_recording(3, imports / "visit.ogg")
    visit = _demo_session()
    visit.audio.sha256, visit.audio.path = sha256_file(rec), ""
    _write_demo_dir(visit, imports / "visit-out")
    # the per-store pseudonym key is made at the first pseudonymised read: before, not
    # inside, a call whose "nothing changed" is checked
    store.list_sessions(store.get_user("rita_n"))
    app = create_app(store)
    with serve_app(app) as base:
        c = Ctx(store, base, own, other, sups[0], sups[1], erase_me,
                str(imports / "visit-out"), str(imports / "visit.ogg"), south_audio,
                load_supervision_rubric().dimensions[0].id)
        c.guard = guard_of(app)
        for role, name in LOGINS.items():
            c.cookies[role] = _login(base, name)
        c.admin_ids = [s.id for s in store.list_sessions(store.get_user("ada_n"))]
        c.deps = handler_table(base, c.cookies["admin"])
        yield c
    store.close()


def snapshot(ctx: Ctx) -> tuple[dict[str, list[str]], list[str]]:
    """Every row of every table of the store, and every file of the data folder with its
    size: what a refused call must leave exactly as it was."""
    from sqlalchemy import MetaData, select

    if ctx.tables is None:
        ctx.tables = MetaData()
        ctx.tables.reflect(ctx.store.engine)
    with ctx.store.engine.connect() as conn:
        tables = {t.name: sorted(repr(tuple(r)) for r in conn.execute(select(t)))
                  for t in ctx.tables.sorted_tables}
    data = ctx.store.data_dir
    files = sorted(f"{p.relative_to(data)} {p.stat().st_size}" for p in data.rglob("*")
                   if p.is_file() and not p.name.startswith("msw-audio.db"))
    return tables, files


def _leaks(out: str, sent: list[Any]) -> list[str]:
    """South's names or text in an answer, not counting what the caller sent itself."""
    for value in sent:
        if isinstance(value, str) and value:
            out = out.replace(json.dumps(value)[1:-1], "").replace(value, "")
    return [s for s in SOUTH_SECRETS if s in out]


def _changed(before: Any, after: Any) -> list[str]:
    (t0, f0), (t1, f1) = before, after
    diff = [name for name in t0 if t0[name] != t1.get(name)]
    if f0 != f1:
        diff.append(f"files: +{sorted(set(f1) - set(f0))} -{sorted(set(f0) - set(f1))}")
    return diff


def _refused_call(ctx: Ctx, name: str, who: str, other: bool) -> list[str]:
    """One call that must be refused; what went wrong (empty: refused, nothing changed)."""
    h = HANDLERS[name]
    session_hash = f"{name}-{who.replace(' ', '-')}-{ctx.fresh('h')}"
    ctx.prime(session_hash, h.prime, other)
    data = (h.other if other else h.data)(ctx)
    before = snapshot(ctx)
    cookie = None if who == "no login" else ctx.cookies[who]
    event_data = h.event(ctx, other) if h.event else None
    ok, out = event(ctx, cookie, name, data, session_hash, event_data)
    after = snapshot(ctx)
    # the same call on Gradio's direct route: a refusal is a 4xx or an answer, never a
    # 500, a traceback or a server path (what it leaves behind is the queue call's test)
    status, direct = run_direct(ctx, cookie, name, data, session_hash, event_data)
    what = f"{who} {name}{' (South)' if other else ''}"
    wrong = [f"{what}: changed {c}" for c in _changed(before, after)]
    if status >= 500 or b"Traceback" in direct or str(ctx.store.data_dir).encode() in direct:
        wrong.append(f"{what}: run/ answered {status}: {direct[:200]!r}")
    if who == "no login":
        if not out.startswith("HTTP 401") or status != 401:
            wrong.append(f"{what}: {out[:200]} / run/ {status}")
        return wrong
    if who != "admin":
        wrong += [f"{what}: run/ answer holds {s!r}"
                  for s in _leaks(direct.decode(errors="replace"), data)]
    if who != "admin":
        wrong += [f"{what}: answer holds {s!r}" for s in _leaks(out, data)]
    if other and h.filters:
        return wrong  # a list filtered to what the login sees: no South in it is the test
    if ok and not REFUSAL.search(out) and not (h.quiet and not _holds_data(out)):
        wrong.append(f"{what}: not refused: {out[:300]}")
    return wrong


def _holds_data(out: str) -> bool:
    """Whether a handler's answer carries anything but empty updates and skips."""
    payload = json.loads(out)
    values = payload.get("data", []) if isinstance(payload, dict) else []

    def empty(v: Any) -> bool:
        if isinstance(v, dict):
            return all(k == "__type__" or (k == "choices" and not x) or x in (None, "")
                       for k, x in v.items())
        return v in (None, "", [])

    return not all(empty(v) for v in values)


# --------------------------------------------------------------------------- the tests
def test_every_handler_has_a_policy_row(ctx: Ctx) -> None:
    """A handler added to the app without a decided policy fails here."""
    status, _, body = _request(ctx.base + "/ui/gradio_api/info", cookie=ctx.cookies["admin"])
    assert status == 200
    named = {k.lstrip("/") for k in json.loads(body)["named_endpoints"]}
    assert named == set(ctx.deps), "every event has a stable api_name in /info"
    missing = sorted(named - set(HANDLERS))
    assert not missing, f"handlers without a row in HANDLERS: {missing}"
    stale = sorted(set(HANDLERS) - named)
    assert not stale, f"rows in HANDLERS for handlers the app no longer has: {stale}"
    for name, h in HANDLERS.items():
        assert h.need == LOGIN or h.need in PERMISSIONS, name
        expected = len(ctx.deps[name]["state"]) - sum(ctx.deps[name]["state"])
        assert len(h.data(ctx)) == expected, f"{name}: {expected} inputs"


def _cases() -> list[tuple[str, str, bool]]:
    """(handler, who, with South's ids): no login, each wrong role, each allowed North role
    with another team's session/family/team."""
    cases = []
    for name, h in HANDLERS.items():
        cases.append((name, "no login", False))
        cases += [(name, role, False) for role in USER_ROLES if role not in h.allowed()]
        if h.other is not None:
            cases += [(name, role, True) for role in USER_ROLES
                      if role in h.allowed() and role != "admin"]
    return cases


CASES = _cases()


@pytest.mark.parametrize("name", list(HANDLERS))
def test_each_handler_refuses_the_wrong_role_and_other_teams(ctx: Ctx, name: str) -> None:
    """For one handler: no login → 401; each role without its action, and each allowed
    role with team South's ids → refused, nothing of South in the answer, nothing changed."""
    wrong: list[str] = []
    for handler, who, other in CASES:
        if handler == name:
            wrong += _refused_call(ctx, name, who, other)
    assert not wrong, "\n".join(wrong)


def _allowed_role(h: Handler) -> str:
    for role in ("evaluator", "coach", "researcher", "practitioner", "admin"):
        if role in h.allowed():
            return role
    raise AssertionError("no role allowed")


@pytest.mark.parametrize("name", list(HANDLERS))
def test_an_allowed_role_gets_through(ctx: Ctx, name: str) -> None:
    """The inputs of the refusals above work for a role the table allows (so the refusal was
    the role's, not bad input's), and the answer still holds nothing of South."""
    h = HANDLERS[name]
    who = _allowed_role(h)
    session_hash = f"ok-{name}-{ctx.fresh('h')}"
    ctx.prime(session_hash, h.prime)
    data = h.data(ctx)
    ok, out = event(ctx, ctx.cookies[who], name, data, session_hash,
                    h.event(ctx, False) if h.event else None)
    assert ok and not REFUSAL.search(out) and not FAILED.search(out), \
        f"{who} {name}: {out[:300]}"
    if who != "admin":
        assert not _leaks(out, data), out


def test_the_case_count_is_readable() -> None:
    """How many refused calls the parametrised test makes (docs/security.md states it)."""
    assert len(HANDLERS) == 48
    assert len(CASES) == 202
    assert sum(1 for _, who, other in CASES if who == "no login") == 48
    assert sum(1 for _, _, other in CASES if other) == 62


# --------------------------------------------------------------------------- uploads
UPLOADERS = frozenset().union(*(PERMISSIONS[a] for a in UPLOAD_ACTIONS))


@pytest.mark.parametrize("who", ("no login", *USER_ROLES))
def test_gradio_upload_only_for_roles_that_upload(ctx: Ctx, who: str, tmp_path: Path) -> None:
    """Gradio's own ``/ui/gradio_api/upload``: 401 without a login, 403 for a role that no
    file input serves — before a byte lands in the upload folder — 200 for the others."""
    uploads = ctx.store.paths.uploads
    before = sorted(str(p) for p in uploads.rglob("*"))
    # a small file: a refusal comes before the body is read, and a large one would still
    # be streaming when the server answers (the client sees a broken pipe, not the 403)
    small = tmp_path / "clip.ogg"
    small.write_bytes(DEMO_AUDIO.read_bytes()[:4096])
    status, body = upload_file(ctx.base, ctx.cookies.get(who), small)
    after = sorted(str(p) for p in uploads.rglob("*"))
    if who == "no login":
        assert status == 401
    elif who in UPLOADERS:
        assert status == 200, body
        Path(json.loads(body)[0]).unlink()
        return
    else:
        assert status == 403, (status, body)
        assert b"may not upload" in body
    assert after == before


def test_every_file_input_is_served_by_an_upload_action(ctx: Ctx) -> None:
    """The upload guard's list (``UPLOAD_ACTIONS``) covers every handler that takes a file:
    a new file input behind another action fails here."""
    status, _, body = _request(ctx.base + "/ui/config", cookie=ctx.cookies["admin"])
    cfg = json.loads(body)
    files = {c["id"] for c in cfg["components"]
             if c["type"] in ("file", "uploadbutton", "audio", "video", "image", "gallery",
                              "model3d", "imageeditor", "multimodaltextbox", "dataset")
             and c.get("props", {}).get("interactive") is not False}
    takers = {dep["api_name"] for dep in cfg["dependencies"] if files & set(dep["inputs"])}
    assert takers == {"review_upload"}
    assert {HANDLERS[n].need for n in takers} <= set(UPLOAD_ACTIONS)


def test_process_recording_is_refused_to_everyone(ctx: Ctx) -> None:
    """Gradio's video-recording route (FFmpeg on an upload, in the web process) serves no
    component of this app: 403 for every role, nothing written."""
    for who in USER_ROLES:
        before = snapshot(ctx)
        status, _, _ = _request(ctx.base + "/ui/gradio_api/process_recording",
                                cookie=ctx.cookies[who], method="POST", data=b"x",
                                headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert status == 403, who
        assert not _changed(before, snapshot(ctx))


# --------------------------------------------------------------------------- bodies
BAD_BODIES = [
    ("call/review_refresh", b"not json", 422),
    ("call/review_refresh", b"[1, 2]", 422),
    ("call/review_refresh", b'{"data": "x"}', 422),
    ("call/review_refresh", b'{"data": [1, 2, 3, 4]}', 422),
    ("call/review_refresh", b'{"data": [null], "session_hash": 5}', 422),
    ("call/no_such_handler", b'{"data": []}', 404),
    ("call/v2/review_refresh", b'{"data": []}', 422),
    ("call/v2/review_refresh", b"{}", 422),
    ("run/review_refresh", b'{"data": [null], "fn_index": 999}', 422),
    ("api/review_refresh", b'{"data": [null], "fn_index": -1}', 422),
    ("queue/join", b'{"data": [], "fn_index": 999, "session_hash": "x"}', 422),
    ("queue/join", b'{"data": [], "fn_index": 1}', 422),
    ("queue/join", b'{"data": [], "fn_index": true, "session_hash": "x"}', 422),
    ("call/review_refresh", b'{"data": ["' + b"x" * (1 << 20) + b'"]}', 413),
]


@pytest.mark.parametrize("route,body,status", BAD_BODIES,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BAD_BODIES)])
def test_a_malformed_event_body_is_a_clear_4xx(ctx: Ctx, route: str, body: bytes,
                                               status: int) -> None:
    """Not a bare 500: a status that says the request was wrong, and why, in one line."""
    got, _, out = _request(f"{ctx.base}/ui/gradio_api/{route}", cookie=ctx.cookies["coach"],
                           method="POST", data=body,
                           headers={"Content-Type": "application/json"})
    assert got == status, (got, out[:200])
    assert json.loads(out)["detail"]


def test_well_formed_bodies_still_reach_gradio(ctx: Ctx) -> None:
    """The guard passes the page's own calls through untouched (simple and v2 API too)."""
    cookie = ctx.cookies["coach"]
    for route, body in (("call/review_refresh", {"data": [ctx.own]}),
                        ("call/v2/review_refresh", {"current": ctx.own})):
        status, _, out = _request(f"{ctx.base}/ui/gradio_api/{route}", cookie=cookie,
                                  method="POST", data=json.dumps(body).encode(),
                                  headers={"Content-Type": "application/json"})
        assert status == 200 and "event_id" in json.loads(out), out
    ok, out = event(ctx, cookie, "review_refresh", [None], "well-formed")
    assert ok and "Demo visit" in out


def test_a_handler_refusal_on_run_and_api_is_a_4xx(ctx: Ctx) -> None:
    """Gradio's direct routes answer a handler's ``gr.Error`` with 500 and its error JSON;
    a refusal titled by its kind (``ui_common.handler_error``) gets its 4xx instead — the
    body still Gradio's — and a role the table allows still gets 200."""
    name = "research_agreement"
    refused = next(r for r in USER_ROLES if r not in HANDLERS[name].allowed())
    for route in ("run", "api"):
        url = f"{ctx.base}/ui/gradio_api/{route}/{name}"
        status, _, out = _request(url, cookie=ctx.cookies[refused], method="POST",
                                  data=b'{"data": []}',
                                  headers={"Content-Type": "application/json"})
        assert status == 403, (route, status, out[:200])
        body = json.loads(out)
        assert "may not" in body["error"] and body["title"] == "Not allowed", body
        status, _, out = _request(url, cookie=ctx.cookies[_allowed_role(HANDLERS[name])],
                                  method="POST", data=b'{"data": []}',
                                  headers={"Content-Type": "application/json"})
        assert status == 200 and "data" in json.loads(out), (route, status, out[:200])


def test_gradios_choice_check_is_400_and_a_crash_says_nothing(ctx: Ctx) -> None:
    """On ``run/``: an untitled ``gr.Error`` — Gradio's own check that a picker's value is
    one of its choices — is a 400 with its message; a handler that crashes (a queue row
    click whose index is not a number) is a 500 whose body holds no message, exception
    name, traceback or server path, and through the queue the page hears no more."""
    cookie = ctx.cookies["evaluator"]
    page = f"crash-{ctx.fresh('h')}"
    ok, out = event(ctx, cookie, "page_load", [], page)  # the pickers: North's sessions
    assert ok, out
    status, body = run_direct(ctx, cookie, "review_refresh", [ctx.other], page)
    assert status == 400, (status, body[:200])
    assert b"not in the list of choices" in body and SOUTH_WORKER.encode() not in body
    bad = {"index": "not-a-row", "value": "x", "selected": True}
    status, body = run_direct(ctx, cookie, "review_pick", [_ORDER], page, bad)
    assert status == 500, (status, body[:200])
    assert json.loads(body) == {"error": None}, body[:300]
    ok, out = event(ctx, cookie, "review_pick", [_ORDER], page, bad)
    assert not ok
    for secret in ("TypeError", "Traceback", "'<'", ">=", str(ctx.store.data_dir), "/tmp"):
        assert secret not in out, (secret, out[:300])
