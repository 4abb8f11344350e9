"""Tables + sentence embeddings for training and evaluation, computed once per text."""

from __future__ import annotations

import numpy as np
import pandas as pd

from msw_audio.coding.tagger import Encoder


def embed_table(table: pd.DataFrame, encoder: Encoder) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of ``text`` and ``prev_text``; each distinct text is encoded once."""
    texts = pd.unique(pd.concat([table["text"], table["prev_text"]]).fillna("").astype(str))
    vectors = encoder.encode(list(texts))
    index = {t: i for i, t in enumerate(texts)}
    emb = vectors[[index[t] for t in table["text"].fillna("").astype(str)]]
    prev = vectors[[index[t] for t in table["prev_text"].fillna("").astype(str)]]
    prev[(table["prev_text"].fillna("") == "").to_numpy()] = 0.0  # no previous turn
    return emb, prev
