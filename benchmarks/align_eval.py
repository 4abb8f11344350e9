#!/usr/bin/env python3
"""Word -> speaker attribution and turn segmentation (``speech/align.py``) on cached words and
turns: tuning set beside held-out sets, so a tuned setting is never reported on its own data.

Why: align is a pure function of Whisper's words and pyannote's turns. Running the models
once per input (cached in ``--work-dir``) and then align many times makes its settings cheap
to compare, and always printing the held-out rows beside the tuning rows keeps the choice
honest.

Sets:
  tuning    demo (msw_audio/demo) and the three-speaker test session (tests/data/three_speakers)
  held-out  benchmarks/data/heldout_visit (a generated three-speaker visit written after the
            rules were chosen, never used to choose), pyannote's sample (in the wheel) and
            the 10 AMI clips in $MSW_SHARED/data/audio/ami-clips (reference RTTM only)

Figures: utterances per reference turn, turn-boundary F1 at ±0.5 s (``boundary_f1``), word
speaker error. With an STM (demo, three, visit, sample) reference turns are
``read_stm_turns`` and the word error is ``word_speaker_error``. The AMI clips have only an
RTTM, so there reference turns are its segments of one speaker joined across gaps under
0.5 s (the same rule), and the word error is time-based: each word's reference speaker is
the one RTTM speaker talking over most of it (words in overlap or outside any reference
segment are left out, ``time_word_pairs``), then the best one-to-one label mapping
(``mapped_errors``). AMI rows are summed over the 10 clips
(micro-averaged: boundaries and words pooled).

    .venv/bin/python benchmarks/align_eval.py                     # current AlignOptions
    .venv/bin/python benchmarks/align_eval.py --set phrase_pause=0.3 --set max_flip_words=2
    .venv/bin/python benchmarks/align_eval.py --baseline main     # also align.py of a git ref
    .venv/bin/python benchmarks/align_eval.py --gapfill --gap-set max_no_speech=0.5
                                      # also the second Whisper pass on empty turns
                                      # (speech/gapfill.py), its raw decodes cached
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, fields, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from msw_audio.devdata import pyannote_sample_dir, shared_dir  # noqa: E402
from msw_audio.records import Turn, Word  # noqa: E402

TUNING = ("demo", "three")
HELD_OUT = ("visit", "sample", "ami")


def inputs() -> dict[str, list[tuple[str, Path, Path | None, Path]]]:
    """name -> [(uri, audio, stm or None, rttm)]."""
    demo = REPO / "msw_audio" / "demo"
    three = REPO / "tests" / "data" / "three_speakers"
    sample = pyannote_sample_dir()
    ami = shared_dir() / "data" / "audio" / "ami-clips"
    visit = REPO / "benchmarks" / "data" / "heldout_visit"
    return {
        "visit": [("heldout_visit", visit / "heldout_visit.ogg", visit / "heldout_visit.stm",
                   visit / "heldout_visit.rttm")],
        "demo": [("demo", demo / "demo.ogg", demo / "demo.stm", demo / "demo.rttm")],
        "three": [("three_speakers", three / "three_speakers.ogg", three / "three_speakers.stm",
                   three / "three_speakers.rttm")],
        "sample": [("sample", sample / "sample.wav", sample / "sample.stm",
                    sample / "sample.rttm")],
        "ami": [(p.stem, p, None, ami / "reference.rttm") for p in sorted(ami.glob("*.wav"))],
    }


def cached_models_output(uri: str, audio: Path, work: Path) -> tuple[list[Word], list[Turn]]:
    """Whisper's words and pyannote's turns for ``audio`` with the pipeline's default
    settings (the stage cache under ``work`` makes reruns free)."""
    out = work / f"{uri}.json"
    if out.exists():
        data = json.loads(out.read_text())
        return [Word(**w) for w in data["words"]], [Turn(**t) for t in data["turns"]]
    from msw_audio.pipeline import Pipeline, PipelineConfig
    from msw_audio.speech.gapfill import GapFillOptions
    from msw_audio.speech.weights import offline_environment

    offline_environment()
    config = PipelineConfig(cache_dir=work / "cache", tag=False,
                            gapfill=GapFillOptions(enabled=False))  # Whisper's own words
    session = Pipeline(config).process(audio)
    words = [Word(w.start, w.end, w.text, w.probability) for u in session.utterances
             for w in u.words]
    words.sort(key=lambda w: (w.start, w.end))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"words": [asdict(w) for w in words],
                               "turns": [asdict(t) for t in session.turns]}))
    return words, session.turns


class CachedSpanDecoder:
    """``gapfill.WhisperSpanDecoder`` with its raw segments (before the guard) kept in a
    JSON file per input, so guard thresholds can be compared without decoding again."""

    def __init__(self, path: Path):
        self.path = path
        self.memo = json.loads(path.read_text()) if path.exists() else {}
        self._decoder = None
        self.key = ""

    def __call__(self, samples):
        from msw_audio.speech.gapfill import DecodedSegment

        key = f"{self.key}:{len(samples)}"
        if key not in self.memo:
            if self._decoder is None:
                from msw_audio.pipeline import PipelineConfig, resolve_threads
                from msw_audio.speech.gapfill import WhisperSpanDecoder
                from msw_audio.speech.transcribe import Transcriber
                from msw_audio.speech.weights import offline_environment

                offline_environment()
                config = resolve_threads(PipelineConfig())
                self._decoder = WhisperSpanDecoder(Transcriber(
                    config.transcribe, cache_dir=self.path.parent / "cache" / "models"))
            self.memo[key] = [{"words": [asdict(w) for w in s.words],
                               **{k: getattr(s, k) for k in ("no_speech_prob", "avg_logprob",
                                                             "compression_ratio")}}
                              for s in self._decoder(samples)]
            self.path.write_text(json.dumps(self.memo))
        return [DecodedSegment(tuple(Word(**w) for w in s["words"]), s["no_speech_prob"],
                               s["avg_logprob"], s["compression_ratio"])
                for s in self.memo[key]]


class _Keyed:
    """Audio whose slices tell the cached decoder where they start (its memo key)."""

    def __init__(self, samples, decoder: CachedSpanDecoder):
        self.samples, self.decoder = samples, decoder

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index: slice):
        self.decoder.key = str(index.start)
        return self.samples[index]


def gap_words(uri: str, audio: Path, words: list[Word], turns: list[Turn], work: Path,
              options) -> list[Word]:
    """The gap pass (``speech.gapfill.fill_gaps``) on the cached words and turns."""
    from msw_audio.speech.audio import load_audio
    from msw_audio.speech.gapfill import fill_gaps, find_gaps

    if not options.enabled or not find_gaps(words, turns, options):
        return []
    decoder = CachedSpanDecoder(work / f"{uri}.gaps.json")
    samples = load_audio(audio)
    return fill_gaps(words, turns, _Keyed(samples, decoder), decoder, options)


def rttm_turns(rttm: Path, uri: str, merge_gap: float = 0.5) -> list[Turn]:
    """Reference turns from an RTTM: one speaker's segments closer than ``merge_gap`` joined
    (the rule of ``read_stm_turns``)."""
    segs = []
    for line in rttm.read_text("utf-8").splitlines():
        p = line.split()
        if len(p) >= 8 and p[0] == "SPEAKER" and p[1] == uri:
            segs.append((float(p[3]), float(p[3]) + float(p[4]), p[7]))
    by_speaker: dict[str, list[Turn]] = {}
    for start, end, spk in sorted(segs):
        turns = by_speaker.setdefault(spk, [])
        if turns and start - turns[-1].end < merge_gap:
            turns[-1] = Turn(turns[-1].start, max(turns[-1].end, end), spk)
        else:
            turns.append(Turn(start, end, spk))
    return sorted((t for ts in by_speaker.values() for t in ts), key=lambda t: t.start)


def rttm_segments(rttm: Path, uri: str) -> list[Turn]:
    out = []
    for line in rttm.read_text("utf-8").splitlines():
        p = line.split()
        if len(p) >= 8 and p[0] == "SPEAKER" and p[1] == uri:
            out.append(Turn(float(p[3]), float(p[3]) + float(p[4]), p[7]))
    return out


def time_word_pairs(segments: list[Turn], words: list[Word]) -> list[tuple[str, str]]:
    """(reference speaker, hypothesis speaker) of each word one reference speaker holds alone
    for most of its span."""
    pairs = []
    for w in words:
        start, end = w.start, max(w.end, w.start + 0.05)
        held: dict[str, float] = {}
        for s in segments:
            ov = min(s.end, end) - max(s.start, start)
            if ov > 0:
                held[s.speaker] = held.get(s.speaker, 0.0) + ov
        if len(held) == 1:
            spk, ov = next(iter(held.items()))
            if ov >= 0.5 * (end - start):
                pairs.append((spk, w.speaker or ""))
    return pairs


def mapped_errors(pairs: list[tuple[str, str]]) -> tuple[int, int]:
    """(errors, words) after the best one-to-one speaker mapping."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    if not pairs:
        return 0, 0
    refs = sorted({r for r, _ in pairs})
    hyps = sorted({h for _, h in pairs})
    shared = np.zeros((len(refs), len(hyps)))
    for r, h in pairs:
        shared[refs.index(r), hyps.index(h)] += 1
    rows, cols = linear_sum_assignment(-shared)
    return int(len(pairs) - shared[rows, cols].sum()), len(pairs)


def stm_word_errors(stm: Path, words: list[Word]) -> tuple[int, int]:
    """``word_speaker_error`` as counts (so the AMI-style pooling works for STM sets too)."""
    import jiwer

    from msw_audio.speech.evaluation import normalise_text, read_stm_words

    reference = read_stm_words(stm)
    words = sorted(words, key=lambda w: w.start)
    hyp = [(t, w.speaker or "") for w in words for t in normalise_text(w.text).split()]
    out = jiwer.process_words(" ".join(t for t, _ in reference), " ".join(t for t, _ in hyp))
    pairs = [(reference[c.ref_start_idx + i][1], hyp[c.hyp_start_idx + i][1])
             for c in out.alignments[0] if c.type == "equal"
             for i in range(c.ref_end_idx - c.ref_start_idx)]
    return mapped_errors(pairs)


def load_align(ref: str | None):
    """``msw_audio.speech.align`` as in the working tree, or as in git ``ref``."""
    if ref is None:
        from msw_audio.speech import align

        return align
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:msw_audio/speech/align.py"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / f"align_{ref.replace('/', '_')}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def stm_wer_and_inserted(stm: Path, words: list[Word], extra: list[Word]) -> tuple[int, int,
                                                                                   int, int]:
    """(word errors, reference words, inserted words, inserted words matching the reference)
    of the transcript ``words`` (which hold the ``extra`` gap words) against the STM."""
    import jiwer

    from msw_audio.speech.evaluation import normalise_text, read_stm_words

    reference = read_stm_words(stm)
    extra_ids = {id(w) for w in extra}
    words = sorted(words, key=lambda w: (w.start, w.end))
    hyp = [(t, id(w) in extra_ids) for w in words for t in normalise_text(w.text).split()]
    out = jiwer.process_words(" ".join(t for t, _ in reference), " ".join(t for t, _ in hyp))
    right = sum(hyp[c.hyp_start_idx + i][1] for c in out.alignments[0] if c.type == "equal"
                for i in range(c.hyp_end_idx - c.hyp_start_idx))
    errors = out.substitutions + out.deletions + out.insertions
    return errors, len(reference), sum(flag for _, flag in hyp), right


def evaluate(align, options, data, gap_options=None, work: Path | None = None) -> dict[str, dict]:
    from msw_audio.speech.evaluation import boundary_f1, read_stm_turns
    from msw_audio.speech.gapfill import insert_words

    results = {}
    for name, items in data.items():
        n_utt = n_ref = matched = n_hyp_pts = n_ref_pts = errors = counted = 0
        wer_err = wer_ref = inserted = right = 0
        for uri, audio, stm, rttm, words, turns in items:
            extra = (gap_words(uri, audio, words, turns, work, gap_options)
                     if gap_options is not None else [])
            attributed = insert_words(align.assign_speakers(words, turns, options), extra)
            takes_turns = "turns" in inspect.signature(align.build_utterances).parameters
            utts = (align.build_utterances(attributed, options, turns=turns) if takes_turns
                    else align.build_utterances(attributed, options))
            ref = read_stm_turns(stm) if stm else rttm_turns(rttm, uri)
            b = boundary_f1(ref, [(u.start, u.end) for u in utts])
            n_utt += len(utts)
            n_ref += len(ref)
            matched += b["matched"]
            n_hyp_pts += b["n_hyp"]
            n_ref_pts += b["n_ref"]
            hyp_words = [w for u in utts for w in u.words]
            e, n = (stm_word_errors(stm, hyp_words) if stm
                    else mapped_errors(time_word_pairs(rttm_segments(rttm, uri), hyp_words)))
            errors += e
            counted += n
            inserted += len(extra) if not stm else 0
            if stm:
                we, wr, ins, ok = stm_wer_and_inserted(stm, attributed, extra)
                wer_err, wer_ref, inserted, right = (wer_err + we, wer_ref + wr,
                                                     inserted + ins, right + ok)
        p, r = matched / max(n_hyp_pts, 1), matched / max(n_ref_pts, 1)
        results[name] = {"utterances": n_utt, "ref_turns": n_ref, "per_turn": n_utt / n_ref,
                         "f1": 2 * p * r / (p + r) if matched else 0.0,
                         "word_err": errors / max(counted, 1), "errors": errors,
                         "words": counted, "wer": wer_err / wer_ref if wer_ref else None,
                         "inserted": inserted, "inserted_right": right if wer_ref else None}
    return results


def parse_set(options_cls, pairs: list[str]):
    kinds = {f.name: f.type for f in fields(options_cls)}
    out = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        kind = kinds[key]
        out[key] = (int(value) if kind in ("int", int) else
                    value.lower() in ("1", "true", "yes") if kind in ("bool", bool) else
                    float(value))
    return out


def report(label: str, results: dict[str, dict], markdown: bool) -> str:
    lines = []
    for name in (*TUNING, *HELD_OUT):
        if name not in results:
            continue
        r = results[name]
        role = "tuning" if name in TUNING else "held-out"
        row = [label, name, role, f"{r['ref_turns']}", f"{r['utterances']}",
               f"{r['per_turn']:.2f}", f"{r['f1']:.3f}",
               f"{r['word_err']:.3f} ({r['errors']}/{r['words']})",
               "–" if r.get("wer") is None else f"{r['wer']:.3f}",
               f"{r.get('inserted', 0)}"
               + ("" if r.get("inserted_right") is None else f" ({r['inserted_right']} right)")]
        lines.append(("| " + " | ".join(row) + " |") if markdown else "  ".join(row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=REPO / "out" / "align_eval")
    parser.add_argument("--inputs", nargs="+", default=[*TUNING, *HELD_OUT],
                        choices=[*TUNING, *HELD_OUT])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override an AlignOptions field (repeatable)")
    parser.add_argument("--baseline", help="also evaluate align.py of this git ref")
    parser.add_argument("--gapfill", action="store_true",
                        help="also run the gap pass (speech.gapfill) on the cached words, turns "
                             "and audio, beside the rows without it")
    parser.add_argument("--gap-set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a GapFillOptions field (repeatable)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)

    data = {}
    for name, items in inputs().items():
        if name not in args.inputs:
            continue
        data[name] = []
        for uri, audio, stm, rttm in items:
            print(f"words and turns of {uri} ...", file=sys.stderr, flush=True)
            words, turns = cached_models_output(uri, audio, args.work_dir)
            data[name].append((uri, audio, stm, rttm, words, turns))
    head = ["align", "input", "set", "ref turns", "utterances", "utt/ref turn",
            "turn F1 ±0.5 s", "word spk err", "WER",
            "gap words (right)"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head) if args.markdown
          else "  ".join(head))
    raw = {}
    if args.baseline:
        base = load_align(args.baseline)
        raw[args.baseline] = evaluate(base, base.AlignOptions(), data)
        print(report(args.baseline, raw[args.baseline], args.markdown))
    align = load_align(None)
    options = replace(align.AlignOptions(), **parse_set(align.AlignOptions, args.set))
    label = "now" + ("".join(f" {s}" for s in args.set))
    raw[label] = evaluate(align, options, data)
    print(report(label, raw[label], args.markdown))
    if args.gapfill:
        from msw_audio.speech.gapfill import GapFillOptions

        gap = replace(GapFillOptions(enabled=True), **parse_set(GapFillOptions, args.gap_set))
        glabel = "now + gapfill" + "".join(f" {s}" for s in args.gap_set)
        raw[glabel] = evaluate(align, options, data, gap, args.work_dir)
        print(report(glabel, raw[glabel], args.markdown))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
