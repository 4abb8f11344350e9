"""The waveform's routes: peaks only for whoever may hear the recording, the vendored player
only after login, nothing fetched from another host, and the peaks erased with the session.

Real store, served app (uvicorn on loopback) and the bundled demo recording.
"""

from __future__ import annotations

import json
import re

import pytest

from msw_audio.speech.peaks import PER_SECOND, peaks_file
from msw_audio.speech.spectrogram import BANDS, spectrogram_file
from msw_audio.web import STATIC_DIR
from msw_audio.web.routes_files import VENDOR_FILES
from tests.conftest_app import make_store, running_server
from tests.test_app import _login, _request


@pytest.fixture()
def served(tmp_path):
    store, sid = make_store(tmp_path / "data")
    with running_server(store) as base:
        yield store, sid, base
    store.close()


def test_peaks_need_the_audio_grant_and_are_erased_with_the_session(served):
    store, sid, base = served
    for path in (f"/media/{sid}/peaks", "/static/vendor/wavesurfer.min.js"):
        assert _request(base + path)[0] == 401, path
    assert _request(base + f"/media/{sid}/peaks", cookie=_login(base, "rita"))[0] == 403
    status, headers, body = _request(base + f"/media/{sid}/peaks", cookie=_login(base, "cora"))
    assert status == 200 and "no-store" in headers["cache-control"]
    record = json.loads(body)
    assert abs(record["duration"] - 287.64) < 0.1 and record["per_second"] == PER_SECOND
    stored = store.audio_file(sid, store.get_user("eva"), False)
    cached = peaks_file(store.paths.cache, stored.stem)
    assert cached.is_file() and cached.is_relative_to(store.paths.cache_for(stored.stem))
    assert _request(base + "/media/snotasession/peaks", cookie=_login(base, "eva"))[0] == 404
    store.erase_session(sid, store.get_user("ada"))
    assert not cached.exists(), "the waveform goes with the session"


def test_the_spectrogram_needs_the_audio_grant_and_is_erased_with_the_session(served):
    store, sid, base = served
    assert _request(base + f"/media/{sid}/spectrogram")[0] == 401
    assert _request(base + f"/media/{sid}/spectrogram", cookie=_login(base, "rita"))[0] == 403
    status, headers, body = _request(base + f"/media/{sid}/spectrogram",
                                     cookie=_login(base, "cora"))
    assert status == 200 and "no-store" in headers["cache-control"]
    frames = json.loads(body)
    # 25 frames per second of the 287.6 s visit, BANDS bytes each
    assert abs(len(frames) - 287.64 * 25) < 30 and {len(f) for f in frames} == {BANDS}
    assert max(max(f) for f in frames) == 255 and min(min(f) for f in frames) >= 0
    stored = store.audio_file(sid, store.get_user("eva"), False)
    cached = spectrogram_file(store.paths.cache, stored.stem)
    assert cached.is_file() and cached.is_relative_to(store.paths.cache_for(stored.stem))
    store.erase_session(sid, store.get_user("ada"))
    assert not cached.exists(), "the spectrogram goes with the session"


def test_only_the_listed_vendor_files_are_served_and_they_load_nothing_else(served):
    _store, _sid, base = served
    eva = _login(base, "eva")
    for name in sorted(VENDOR_FILES):
        status, headers, body = _request(base + f"/static/vendor/{name}", cookie=eva)
        assert status == 200 and headers["content-type"].startswith("text/javascript"), name
        # no URL other than the SVG/XHTML namespace: the player fetches only what it is given
        urls = set(re.findall(rb"https?://[\w./-]+", body))
        assert urls <= {b"http://www.w3.org/1999/xhtml", b"http://www.w3.org/2000/svg"}, urls
    for name in ("README.md", "LICENSE-wavesurfer.txt", "..%2Fserver.py", "%2e%2e/review.js"):
        assert _request(base + f"/static/vendor/{name}", cookie=eva)[0] == 404, name
    assert (STATIC_DIR / "vendor" / "LICENSE-wavesurfer.txt").read_text().startswith("BSD 3")


def test_the_review_page_preloads_the_peaks_only_for_logins_who_may_hear_them(served):
    _store, sid, base = served
    html = {"Accept": "text/html"}
    _s, headers, _b = _request(base + f"/ui/?session={sid}", cookie=_login(base, "eva"),
                               headers=html)
    links = headers.get("link", "")
    assert f"</fragment/review/{sid}?order=time>; rel=preload" in links
    assert f"</media/{sid}/peaks>; rel=preload" in links
    assert "</static/vendor/wavesurfer.min.js>; rel=preload; as=script" in links
    _s, headers, _b = _request(base + f"/ui/?session={sid}", cookie=_login(base, "rita"),
                               headers=html)
    assert "/fragment/review/" in headers.get("link", "")
    assert "/peaks" not in headers.get("link", "") and "vendor" not in headers.get("link", "")
    _s, headers, _b = _request(base + "/ui/", cookie=_login(base, "eva"), headers=html)
    assert "link" not in {k.lower() for k in headers}, "no session, nothing to preload"


def test_gradio_hashed_assets_are_cached_for_a_year_and_data_routes_never(served):
    """A returning browser keeps Gradio's content-hashed modules (no 65 revalidations per
    opening); our own unhashed files keep ``no-cache`` and data routes ``no-store``."""
    _store, sid, base = served
    eva = _login(base, "eva")
    _s, headers, page = _request(base + f"/ui/?session={sid}", cookie=eva,
                                 headers={"Accept": "text/html"})
    assert "</static/review.css>; rel=preload; as=style" in headers.get("link", "")
    assets = re.findall(r'(?:src|href)="\./(assets/[^"]+\.(?:js|css))"', page.decode())
    assert assets, "the Gradio page names its built assets"
    for path in assets:
        status, headers, _b = _request(base + "/ui/" + path, cookie=eva)
        assert status == 200
        assert headers.get("cache-control") == "private, max-age=31536000, immutable", path
    assert _request(base + "/ui/" + assets[0])[0] in (302, 303, 401), "still behind login"
    _s, headers, _b = _request(base + "/static/review.js", cookie=eva)
    assert headers.get("cache-control") == "no-cache"
    _s, headers, _b = _request(base + f"/fragment/review/{sid}?order=time", cookie=eva)
    assert headers.get("cache-control") == "no-store"
