"""The store methods behind the Admin tab refuse every role but admin, and audit each change.

Real store (SQLite in a temp folder). Why at the store level: the Admin tab's handlers call
exactly these methods with the signed-in user, so a forged Gradio event from an evaluator
ends here, not in the page.
"""

from __future__ import annotations

import pytest

from msw_audio.errors import InputError, PermissionDenied
from msw_audio.review.auth import USER_ROLES, system_user
from tests.conftest_app import DEMO_AUDIO, demo_session, write_session_dir

PW = "a-password-1"


@pytest.fixture()
def people(store):
    admin = store.add_user("boss", "admin", PW, actor=system_user("test"))
    others = {role: store.add_user(f"{role}1", role, PW)
              for role in USER_ROLES if role != "admin"}
    return admin, others


def _calls(store, sid):
    """Each admin-only store call the Admin tab makes, as ``(label, fn(user))``."""
    return [
        ("add_user", lambda u: store.add_user("newbie", "coach", PW, actor=u)),
        ("list_users", lambda u: store.list_users(u)),
        ("audit_log", lambda u: store.audit_log(u)),
        ("disable", lambda u: store.set_active("coach1", False, u)),
        ("enable", lambda u: store.set_active("coach1", True, u)),
        ("set_user_role", lambda u: store.set_user_role("coach1", "evaluator", u)),
        ("set_teams", lambda u: store.set_teams("coach1", ("North",), u)),
        ("grant", lambda u: store.grant("researcher1", "audio.listen", u)),
        ("revoke", lambda u: store.revoke("researcher1", "audio.listen", u)),
        # someone else's password (their own any user may change)
        ("reset password", lambda u: store.set_password("boss", "another-pass-2", actor=u)),
        ("retention days", lambda u: store.set_setting("retention_days", 30, u)),
        ("erase session", lambda u: store.erase_session(sid, u)),
    ]


def _session(store, tmp_path):
    out = write_session_dir(demo_session(), tmp_path / "out")
    return store.ingest(out, meta={"team": "North", "worker": "practitioner1"},
                        audio_path=DEMO_AUDIO)


def test_every_admin_call_refuses_each_other_role(store, people, tmp_path):
    admin, others = people
    sid = _session(store, tmp_path)
    store.grant("researcher1", "audio.listen", admin)  # so that revoke has something to do
    for role, user in others.items():
        for label, call in _calls(store, sid):
            with pytest.raises(PermissionDenied):
                call(user)
                pytest.fail(f"{role} could {label}")
    assert store.get_user("newbie") is None
    coach = store.get_user("coach1")
    assert coach.role == "coach" and coach.teams == frozenset({"*"})
    assert store.setting("retention_days") is None
    assert [s.id for s in store.list_sessions(admin)] == [sid], "nothing was erased"


def test_admin_calls_work_and_each_is_audited(store, people, tmp_path):
    admin, _others = people
    sid = _session(store, tmp_path)
    epoch = store.users_epoch
    for _label, call in _calls(store, sid):
        call(admin)
    assert store.users_epoch > epoch, "the login gate must look the users up again"
    actions = [a["action"] for a in store.audit_log(admin) if a["user"] == "boss"]
    for action in ("user.add", "user.disable", "user.enable", "user.role", "user.teams",
                   "user.grant", "user.revoke", "user.password", "setting", "session.erase"):
        assert action in actions, action
    assert store.get_user("newbie").role == "coach"
    assert store.get_user("coach1").role == "evaluator"
    assert store.setting("retention_days") == "30"
    added = next(a for a in store.audit_log(admin) if a["action"] == "user.add"
                 and a["target_id"] == "newbie")
    assert PW not in str(added), "no password in the audit trail"


def test_a_user_may_change_only_their_own_password(store, people):
    _admin, others = people
    eva = others["evaluator"]
    store.set_password("evaluator1", "my-own-new-pw", actor=eva)
    with pytest.raises(PermissionDenied):
        store.set_password("coach1", "not-yours-123", actor=eva)


def test_the_last_active_admin_cannot_be_disabled_or_demoted(store, people):
    admin, _others = people
    with pytest.raises(InputError, match="last active admin"):
        store.set_active("boss", False, admin)
    with pytest.raises(InputError, match="last active admin"):
        store.set_user_role("boss", "evaluator", admin)
    store.add_user("second", "admin", PW, actor=admin)
    store.set_user_role("boss", "evaluator", admin)  # another admin is left: allowed
    assert store.get_user("boss").role == "evaluator"
    store.set_active("coach1", False, store.get_user("second"))
    listed = {u.name: u for u in store.list_users(store.get_user("second"))}
    assert listed["coach1"].active is False and listed["second"].active is True
    assert store.get_user("coach1") is None, "a disabled login cannot be looked up to sign in"
