"""Bad recordings through the real CLI: non-zero exit, one line on stderr, no traceback,
nothing written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.test_audio import BAD, encode, make_bad_inputs, tone


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"}
    return subprocess.run([sys.executable, "-m", "msw_audio.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, jfk_path):
    cases = make_bad_inputs(tmp_path_factory.mktemp("bad"), jfk_path)
    tmp = tmp_path_factory.mktemp("more")
    cases["too_long"] = (encode(tone(90), tmp / "long.wav", "pcm_s16le"), "maximum")
    hostile = tmp / "$(touch pwned); rm -rf ..; `id` ..wav"
    hostile.write_bytes(b"not audio at all")
    cases["hostile_name"] = (hostile, "not a readable audio")
    return cases


@pytest.mark.parametrize("case", [*BAD, "too_long", "hostile_name"])
def test_bad_recording_fails_cleanly(bad_inputs, tmp_path, case):
    path, words = bad_inputs[case]
    out = tmp_path / "out"
    run = run_cli("process", str(path), "--out", str(out), "--max-duration", "1",
                  "--cache-dir", str(tmp_path / "cache"))
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("msw-audio: error:") and words in lines[0]
    assert "Traceback" not in run.stderr
    assert not out.exists() and not (tmp_path / "cache").exists()
    assert not (path.parent / "pwned").exists() and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("option", [("--segmentation-step", "0"), ("--num-speakers", "0")])
def test_bad_option_fails_before_any_model_loads(jfk_path, tmp_path, option):
    out = tmp_path / "out"
    run = run_cli("process", str(jfk_path), "--out", str(out), *option,
                  "--cache-dir", str(tmp_path / "cache"))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert option[0] in run.stderr and not out.exists()
