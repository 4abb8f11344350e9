"""The fine-tuning recipe of the shipped tagger runs end to end on a small AnnoMI slice (CPU).

prepare -> run (grouped folds + final encoder) -> package -> load_tagger -> tag a session:
the same code that built ``models/tagger`` (on a GPU), at toy scale, so a researcher's rerun
cannot silently break. The numbers of such a tiny model mean nothing; the contract does.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest

from msw_audio.coding.tagger import ContextHeads, load_tagger
from msw_audio.records import AudioInfo, Session, Speaker, Utterance
from tests.conftest import annomi_slice as write_annomi_slice


def run_args(**kw) -> argparse.Namespace:
    base = dict(device="cpu", epochs=1, batch=16, lr=5e-5, head_lr=2e-3, balance=0.5,
                smoothing=0.0, seed=13, fold=None, context="prev", head="linear", threads=2,
                no_embeddings=True)
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture(scope="module")
def tiny_slice(tmp_path_factory) -> Path:
    return write_annomi_slice(tmp_path_factory.mktemp("annomi") / "tiny.csv", 3)


def test_finetune_prepare_run_package_and_tag(tiny_slice, tmp_path):
    from training.finetune import package, prepare, run

    os.environ["HF_HUB_OFFLINE"] = "1"
    work, run_dir, out = tmp_path / "work", tmp_path / "run", tmp_path / "model"
    prepare(work, tiny_slice, folds=2)
    data = np.load(work / "data.npz")
    assert set(np.unique(data["fold_of"])) == {0, 1}
    run(work, run_dir, run_args())
    assert (run_dir / "encoder_finetuned.safetensors").is_file()
    assert sorted(p.name for p in run_dir.glob("oof_*.npz")) == ["oof_0.npz", "oof_1.npz"]

    scores = package(work, run_dir, out, version="tiny-1")
    assert {"therapist_4way", "therapist_6way", "client_3way"} <= set(scores)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["name"] == "msw-tagger-finetuned" and meta["cv"]["folds"] == 2
    assert (out / "encoder" / "model.bin").is_file() and (out / "cv_predictions.json.gz").is_file()
    with pytest.raises(Exception, match="not empty"):
        package(work, run_dir, out, version="tiny-2")  # never overwrites silently

    tagger = load_tagger(out)
    assert isinstance(tagger.heads, ContextHeads) and tagger.version == "tiny-1"
    session = Session(
        audio=AudioInfo("t.wav", "0" * 64, 4.0),
        speakers=[Speaker("A", role="practitioner"), Speaker("B", role="parent")],
        utterances=[Utterance("u1", 0.0, 1.0, "A", "How do you feel about school?"),
                    Utterance("u2", 1.0, 2.0, "B", "I want things to change for him.")],
    )
    tagger.tag_session(session)
    for utt in session.utterances:
        assert utt.codes and abs(sum(c.probability for c in utt.codes) - 1.0) < 1e-3
    assert session.utterances[1].codes[0].code in ("change_talk", "neutral", "sustain_talk")
    assert session.models["tagger"]["version"] == "tiny-1"


def test_fine_tuned_heads_need_their_own_encoder(tmp_path):
    from msw_audio.coding.tagger import DEFAULT_MODEL_DIR
    from msw_audio.errors import ModelNotFoundError

    for name in ("heads.npz", "metadata.json"):
        (tmp_path / name).write_bytes((DEFAULT_MODEL_DIR / name).read_bytes())
    with pytest.raises(ModelNotFoundError, match="encoder"):
        load_tagger(tmp_path)
