"""How much of a speaker's speech CAM++ embeds (``CAMPPlusEmbedding.max_seconds``).

Real checkpoint, real audio (pyannote's sample): the earlier 3 s centre crop must stay what
it was, "all speech" must really use more than 3 s, and items of different lengths in one batch
must get what each gets alone (no padding).
"""

from __future__ import annotations

import pytest
import torch

from msw_audio.devdata import pyannote_sample_dir
from msw_audio.speech.audio import load_audio
from msw_audio.speech.campplus import CAMPPlusEmbedding, fbank
from msw_audio.speech.weights import campplus_checkpoint


@pytest.fixture(scope="module")
def chunk() -> torch.Tensor:
    sample = pyannote_sample_dir() / "sample.wav"
    if not sample.exists():
        pytest.skip("pyannote sample not available")
    return torch.from_numpy(load_audio(sample)[: 10 * 16000]).reshape(1, 1, -1)


def _model(max_seconds):
    return CAMPPlusEmbedding(campplus_checkpoint(), max_seconds=max_seconds)


def test_three_second_crop_is_the_centre_of_the_masked_speech(chunk):
    model = _model(3.0)
    with torch.inference_mode():
        got = model(chunk)[0]
        mid = (chunk.shape[-1] - 48000) // 2
        want = model.network(fbank(chunk[0, 0, mid : mid + 48000])[None])[0]
    assert torch.allclose(got, want, atol=1e-5)


def test_all_speech_differs_from_the_crop_and_ignores_its_batch(chunk):
    crop, full = _model(3.0), _model(None)
    masks = torch.zeros(3, 589)
    masks[0, :] = 1.0  # all 10 s
    masks[1, :100] = 1.0  # ~1.7 s: tiled to 3 s
    masks[2, 300:] = 1.0  # ~4.9 s
    batch = chunk.expand(3, 1, -1)
    with torch.inference_mode():
        together = full(batch, masks)
        alone = torch.cat([full(chunk, masks[i : i + 1]) for i in range(3)])
        cropped = crop(batch, masks)
    assert torch.equal(together, alone)
    # short speech is tiled to 3 s either way (batched there, alone here: float noise only)
    assert torch.allclose(together[1], cropped[1], atol=1e-4)
    assert not torch.allclose(together[0], cropped[0], atol=1e-3)
