"""The ingest attack of the security review: a session.json or a form field naming a server
file must never get that file copied into the store or served back by ``/media``.

Real store, real served app (uvicorn on loopback), real recordings; nothing is faked.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from msw_audio.errors import MswError
from msw_audio.records import AudioInfo, Session
from tests.conftest import shared_dir
from tests.conftest_app import make_store, running_server
from tests.test_app import _login, _request

CANARY = "msw-canary-4f1d9a"


def _session_json(folder: Path, audio_path: str) -> Path:
    """The three-line session.json of the attack: an audio path, no hash, nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    session = Session(audio=AudioInfo(path=audio_path, sha256="", duration=1.0))
    (folder / "session.json").write_text(json.dumps(session.to_dict()))
    return folder


@pytest.fixture()
def attack(tmp_path: Path):
    store, sid = make_store(tmp_path / "data")
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(CANARY)
    page = tmp_path / "outside" / "recording.html"
    page.write_text(f"<script>alert('{CANARY}')</script>")
    link = tmp_path / "outside" / "link.wav"
    os.symlink(secret, link)
    yield store, sid, tmp_path, {"secret": secret, "page": page, "link": link}
    store.close()


@pytest.mark.parametrize("target", ["secret", "page", "link", "/dev/zero", "/proc/self/environ"])
def test_a_session_json_naming_a_server_file_is_refused_by_ingest(attack, target):
    store, _sid, tmp_path, files = attack
    path = str(files.get(target, target))
    folder = _session_json(tmp_path / f"evil-{target.strip('/').replace('/', '-')}", path)
    before = sorted(p.name for p in store.paths.audio.iterdir())
    with pytest.raises(MswError):
        store.ingest(folder, store.get_user("eva"))
    assert sorted(p.name for p in store.paths.audio.iterdir()) == before
    for stored in store.paths.audio.iterdir():
        assert CANARY.encode() not in stored.read_bytes()


def test_the_web_form_reads_only_the_import_folder_and_never_session_audio_paths(attack):
    store, _sid, tmp_path, files = attack
    outside = _session_json(tmp_path / "evil", str(files["secret"]))
    with pytest.raises(MswError, match="import"):
        store.paths.inside_imports(outside)
    with pytest.raises(MswError, match="import"):  # a link out of the import folder
        os.symlink(files["secret"], store.paths.imports / "escape.wav")
        store.paths.inside_imports(store.paths.imports / "escape.wav")
    inside = _session_json(store.paths.imports / "visit", str(files["secret"]))
    # inside the import folder, session.json's own audio path is still not followed
    with pytest.raises(MswError, match="sha256"):
        store.ingest(store.paths.inside_imports(inside), store.get_user("eva"),
                     audio_from_session=False)
    # a real recording beside it, named in the form, is taken
    jfk = shutil.copy(shared_dir() / "data" / "audio" / "jfk.flac",
                      store.paths.imports / "visit" / "visit.flac")
    other = _session_json(store.paths.imports / "visit2", "")
    sid2 = store.ingest(other, store.get_user("eva"), audio_from_session=False,
                        audio_path=store.paths.inside_imports(jfk))
    assert store.audio_file(sid2, store.get_user("eva")).read_bytes() == Path(jfk).read_bytes()


def test_media_is_served_as_audio_with_hardening_headers_on_every_route(attack):
    store, sid, _tmp, _files = attack
    with running_server(store) as base:
        eva = _login(base, "eva")
        status, headers, body = _request(base + f"/media/{sid}", cookie=eva)
        assert status == 200 and headers["content-type"].startswith("audio/")
        assert CANARY.encode() not in body
        for path, cookie in (("/login", None), (f"/media/{sid}", eva), ("/ui/", eva),
                             ("/api/me", eva), ("/api/sessions", None)):
            _status, headers, _ = _request(base + path, cookie=cookie)
            lower = {k.lower(): v for k, v in headers.items()}
            assert lower.get("x-content-type-options") == "nosniff", path
            assert lower.get("x-frame-options") == "DENY", path
            assert "frame-ancestors 'none'" in lower.get("content-security-policy", ""), path
            assert lower.get("referrer-policy") == "no-referrer", path


def test_seeking_in_a_recording_is_one_audited_listening_not_one_row_per_request(attack):
    store, sid, _tmp, _files = attack
    ada = store.get_user("ada")

    def listens() -> int:
        return sum(a["action"] == "audio.listen" for a in store.audit_log(ada))

    with running_server(store) as base:
        eva = _login(base, "eva")
        before = listens()
        assert _request(base + f"/media/{sid}", cookie=eva, headers={"Range": "bytes=0-"})[0] == 206
        for start in range(1000, 11000, 1000):  # the browser seeking
            status, _, _ = _request(base + f"/media/{sid}", cookie=eva,
                                    headers={"Range": f"bytes={start}-{start + 99}"})
            assert status == 206
        assert listens() == before + 1
