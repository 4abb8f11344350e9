"""scripts/make_session.py: deterministic output whose references match the audio exactly.

The demo and the three_speakers test session are the ground truth for the diarization and
ASR checks, so their RTTM/STM must fit the audio to the sample and regenerate identically.
Real espeak-ng and sox run here (a few seconds); no model is loaded.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THREE = REPO / "tests" / "data" / "three_speakers"
DEMO = REPO / "msw_audio" / "demo"

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="needs espeak-ng and sox (apt-get install espeak-ng sox)",
)

TINY = """
seed: 3
noise_dbfs: -60
speakers:
  practitioner: {voice: en-gb+f3, pitch: 60, speed: 150}
  parent: {voice: en-us+Storm, pitch: 30, speed: 130}
  child: {voice: en-us+f4, pitch: 85, speed: 185, effects: [treble, "+3"]}
turns:
  - practitioner: How has this week been? Tell me about it.
  - parent: Hard, to be honest.
  - child: Mm.
    overlap: 0.3
  - child: It was okay for me.
    pause: 0.5
"""


@pytest.fixture(scope="module")
def ms():
    spec = importlib.util.spec_from_file_location("make_session", REPO / "scripts" /
                                                  "make_session.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_session"] = module
    spec.loader.exec_module(module)
    return module


def read_rttm(path: Path) -> list[tuple[str, float, float]]:
    rows = []
    for line in path.read_text().splitlines():
        f = line.split()
        rows.append((f[7], float(f[3]), float(f[3]) + float(f[4])))
    return rows


def audio_seconds(path: Path) -> float:
    from msw_audio.speech.audio import load_audio

    return len(load_audio(path)) / 16000


def test_tiny_session_is_deterministic_and_references_fit(ms, tmp_path):
    dialogue = tmp_path / "tiny.yaml"
    dialogue.write_text(TINY)
    outputs = []
    for run in ("a", "b"):
        prefix = tmp_path / run / "tiny"
        summary = ms.make_session(dialogue, prefix, formats=("wav", "ogg"))
        outputs.append({ext: prefix.with_suffix(ext).read_bytes()
                        for ext in (".wav", ".ogg", ".rttm", ".txt", ".stm")})
    assert outputs[0] == outputs[1]  # same dialogue -> byte-identical files, Opus included

    prefix = tmp_path / "a" / "tiny"
    duration = audio_seconds(prefix.with_suffix(".wav"))
    assert duration == pytest.approx(summary["duration"], abs=1e-3)
    assert abs(audio_seconds(prefix.with_suffix(".ogg")) - duration) < 0.03
    rttm = read_rttm(prefix.with_suffix(".rttm"))
    assert {spk for spk, _, _ in rttm} == {"practitioner", "parent", "child"}
    assert all(0 < s < e <= duration for _, s, e in rttm)
    # The backchannel starts inside the parent's turn: the reference has a real overlap.
    parent_end = max(e for spk, _, e in rttm if spk == "parent")
    child_start = min(s for spk, s, _ in rttm if spk == "child")
    assert child_start < parent_end
    assert prefix.with_suffix(".txt").read_text().splitlines()[1] == "parent: Hard, to be honest."
    stm = [line.split(maxsplit=5) for line in prefix.with_suffix(".stm").read_text().splitlines()]
    assert [row[2] for row in stm] == ["practitioner", "parent", "child", "child"]
    assert all(row[0] == "tiny" and float(row[3]) < float(row[4]) <= duration for row in stm)


def test_bad_dialogue_is_refused(ms, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("speakers: {a: {voice: en}}\nturns:\n  - b: hello\n")
    with pytest.raises(ValueError, match="unknown speaker 'b'"):
        ms.load_dialogue(bad)


def test_committed_sessions_match_their_audio():
    for audio, rttm in ((DEMO / "demo.ogg", DEMO / "demo.rttm"),
                        (THREE / "three_speakers.ogg", THREE / "three_speakers.rttm")):
        duration = audio_seconds(audio)
        rows = read_rttm(rttm)
        assert {spk for spk, _, _ in rows} == {"practitioner", "parent", "child"}
        assert max(e for _, _, e in rows) <= duration
        assert rttm.read_text().split()[1] == audio.stem  # uri = file name


@pytest.mark.skipif(
    b"1.51" not in subprocess.run(["espeak-ng", "--version"], capture_output=True).stdout
    if shutil.which("espeak-ng") else True,
    reason="committed references were generated with espeak-ng 1.51",
)
def test_three_speakers_regenerates_identically(ms, tmp_path):
    prefix = tmp_path / "three_speakers"
    ms.make_session(THREE / "dialogue.yaml", prefix, formats=("ogg",))
    for ext in (".rttm", ".txt", ".stm", ".ogg"):
        assert prefix.with_suffix(ext).read_bytes() == (THREE / f"three_speakers{ext}").read_bytes()
