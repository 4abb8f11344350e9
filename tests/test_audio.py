"""Decoding: every supported container decodes to the same 16 kHz mono signal; every bad
input is refused with a clear AudioError before any model runs."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from msw_audio.errors import AudioError
from msw_audio.speech.audio import load_audio, sha256_file


def encode(samples: np.ndarray, path: Path, codec: str, rate: int = 16000,
           layout: str = "mono", fmt: str | None = None) -> Path:
    """Write float samples ((channels, n) or (n,)) with PyAV's bundled FFmpeg encoders."""
    data = np.atleast_2d(samples).astype(np.float32)
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame_size = 1024
        for i in range(0, data.shape[1], frame_size):
            chunk = np.ascontiguousarray(data[:, i : i + frame_size])
            frame = av.AudioFrame.from_ndarray(
                chunk.reshape(1, -1) if layout == "mono" else chunk.T.reshape(1, -1).copy(),
                format="flt", layout=layout)
            frame.rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def jfk(jfk_path) -> np.ndarray:
    return load_audio(jfk_path)


def test_jfk_decodes_to_16k_mono(jfk):
    assert jfk.dtype == np.float32 and jfk.ndim == 1
    assert abs(len(jfk) / 16000 - 11.0) < 0.1
    assert 0.1 < np.abs(jfk).max() <= 1.0


@pytest.mark.parametrize(
    "name,codec,fmt",
    [("a.wav", "pcm_s16le", None), ("a.flac", "flac", None), ("a.mp3", "libmp3lame", None),
     ("a.ogg", "libopus", "ogg"), ("a.m4a", "aac", "mp4"), ("a.mp4", "aac", "mp4")],
)
def test_containers_decode_alike(tmp_path, jfk, name, codec, fmt):
    rate = 48000 if codec == "libopus" else 16000
    src = np.interp(np.arange(0, len(jfk), 16000 / rate), np.arange(len(jfk)), jfk)
    path = encode(src, tmp_path / name, codec, rate=rate, fmt=fmt)
    out = load_audio(path)
    assert abs(len(out) - len(jfk)) < 0.2 * 16000
    n = min(len(out), len(jfk))
    # lossy codecs add delay; compare loudness envelopes rather than samples
    env = lambda x: np.abs(x[: n - n % 4000]).reshape(-1, 4000).mean(1)  # noqa: E731
    assert np.corrcoef(env(out), env(jfk))[0, 1] > 0.9


def test_stereo_is_downmixed(tmp_path, jfk):
    stereo = np.stack([jfk, np.zeros_like(jfk)])
    out = load_audio(encode(stereo, tmp_path / "s.wav", "pcm_s16le", layout="stereo"))
    assert out.ndim == 1 and np.abs(out).max() == pytest.approx(np.abs(jfk).max() / 2, rel=0.05)


def test_sha256_is_content_hash(jfk_path, tmp_path):
    copy = tmp_path / "other name.flac"
    copy.write_bytes(jfk_path.read_bytes())
    assert sha256_file(copy) == sha256_file(jfk_path)


# --- bad inputs -----------------------------------------------------------------------

def tone(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def make_bad_inputs(tmp: Path, jfk_path: Path) -> dict[str, tuple[Path, str]]:
    """Every kind of unusable recording, with the words its error message must contain."""
    cases: dict[str, tuple[Path, str]] = {}
    cases["missing"] = (tmp / "nope.wav", "not found")
    (tmp / "empty.wav").write_bytes(b"")
    cases["empty"] = (tmp / "empty.wav", "empty")
    (tmp / "notes.wav").write_text("this is a text file, not audio\n" * 50)
    cases["text"] = (tmp / "notes.wav", "not a readable audio")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    (tmp / "picture.mp3").write_bytes(png)
    cases["image"] = (tmp / "picture.mp3", "no audio track")
    data = jfk_path.read_bytes()
    corrupt = bytearray(data[:4096]) + bytes(np.random.default_rng(0).integers(0, 256, 60000,
                                                                                 dtype=np.uint8))
    (tmp / "corrupt.flac").write_bytes(bytes(corrupt))
    cases["corrupt"] = (tmp / "corrupt.flac", "corrupt")
    video = tmp / "video_only.mp4"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    cases["no_audio_track"] = (video, "no audio track")
    cases["too_short"] = (encode(tone(0.4), tmp / "short.wav", "pcm_s16le"), "at least")
    cases["silent"] = (encode(np.zeros(16000 * 3, np.float32), tmp / "silence.wav",
                              "pcm_s16le"), "silent")
    cases["directory"] = (tmp, "not a regular file")
    return cases


BAD = ["missing", "empty", "text", "image", "corrupt", "no_audio_track", "too_short", "silent",
       "directory"]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, jfk_path):
    return make_bad_inputs(tmp_path_factory.mktemp("bad"), jfk_path)


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_clearly(bad_inputs, case):
    path, words = bad_inputs[case]
    with pytest.raises(AudioError) as err:
        load_audio(path)
    message = str(err.value)
    assert words in message and "\n" not in message


def test_too_long_is_refused_before_decoding(tmp_path):
    path = encode(tone(5), tmp_path / "long.wav", "pcm_s16le")
    with pytest.raises(AudioError, match="maximum"):
        load_audio(path, max_duration=2.0)


def test_hostile_name_stays_inert_in_messages(tmp_path):
    name = "$(touch pwned);rm -rf ~ `id`\x1b[31m.wav"
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert "\x1b" not in str(err.value)
    assert not (tmp_path / "pwned").exists()


def test_long_audio_is_windowed_at_quiet_points():
    from msw_audio.speech.transcribe import windows

    rng = np.random.default_rng(1)
    audio = (0.3 * rng.standard_normal(16000 * 100)).astype(np.float32)
    audio[16000 * 45 : 16000 * 46] = 0.0  # the only quiet second in the first window
    spans = list(windows(audio, max_seconds=50, search_seconds=20))
    assert spans[0][0] == 0 and spans[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert 45 * 16000 <= spans[0][1] <= 46 * 16000
    assert all(stop - start <= 50 * 16000 for start, stop in spans)
