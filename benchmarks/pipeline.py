#!/usr/bin/env python3
"""Speed, memory and accuracy of the whole speech pipeline on known recordings.

Why: a practitioner's visit is about an hour and evaluators run msw-audio on ordinary
laptops, so we need to know, per stage, how long a recording takes (real-time factor =
wall time / audio duration), how much memory it needs (peak RSS), and how good the words
(WER) and the speakers (DER) are — measured the same way every time, on recordings whose
truth is known exactly.

Inputs (``--inputs``, default all three):
  sample  pyannote.audio's own 30 s two-speaker sample (sample.wav/.rttm/.stm, in the wheel)
  demo    msw_audio/demo/demo.ogg, the generated ~5 min three-speaker home visit
  three   tests/data/three_speakers/, the ~80 s three-speaker session of the tests
  long    a ~30 min concatenation (built with sox, cached in --work-dir) of the demo, the
          pyannote sample and the AMI clips in $MSW_SHARED/data/audio/ami-clips, repeated;
          its RTTM is concatenated with offsets; WER is scored on the demo and sample parts
          only (the AMI clips have no transcripts)

Each input runs in its own child process (so peak RSS is that run's alone, models
included), with the stage cache off (every stage really runs). Models are loaded first and
timed as ``load``; each later stage's time is its own span, from its first to its last
progress report (transcription and diarization overlap: they run side by side).
WER: jiwer on lower-cased text without punctuation. DER:
pyannote.metrics on the diarization turns (session.turns), collar 0 and 0.25 s, overlap
scored. Word spk err (inputs with a speaker-labelled STM):
``msw_audio.speech.evaluation.word_speaker_error``, the share of correctly heard words given to the
wrong speaker. The coding unit (same inputs): utterances per reference turn (STM lines of one
speaker less than 0.5 s apart joined, ``read_stm_turns``) and the turn-boundary F1 at
±0.5 s (``boundary_f1``: every utterance start and end against every turn start and end).

    .venv/bin/python benchmarks/pipeline.py                       # all inputs
    .venv/bin/python benchmarks/pipeline.py --inputs sample demo --threads 2
    .venv/bin/python benchmarks/pipeline.py --model base --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from msw_audio.devdata import pyannote_sample_dir, shared_dir  # noqa: E402
from msw_audio.speech.evaluation import read_stm_text  # noqa: E402

STAGE_ORDER = ("load", "decode", "transcribe", "diarize", "align", "tag", "score", "write")


# -- inputs and their references ------------------------------------------------------------


@dataclass
class Part:
    """A stretch of an input with a known transcript (seconds from the input's start)."""

    start: float
    end: float
    text: str


@dataclass
class Input:
    name: str
    audio: Path
    rttm: Path
    uri: str
    parts: list[Part] = field(default_factory=list)  # empty: no WER
    stm: Path | None = None  # speaker-labelled reference words: word speaker error


def sample_input() -> Input:
    d = pyannote_sample_dir()
    return Input("sample", d / "sample.wav", d / "sample.rttm", "sample",
                 [Part(0.0, 30.0, read_stm_text(d / "sample.stm"))], d / "sample.stm")


def demo_input() -> Input:
    d = REPO / "msw_audio" / "demo"
    return Input("demo", d / "demo.ogg", d / "demo.rttm", "demo",
                 [Part(0.0, float("inf"), read_stm_text(d / "demo.stm"))], d / "demo.stm")


def three_input() -> Input:
    d = REPO / "tests" / "data" / "three_speakers"
    return Input("three", d / "three_speakers.ogg", d / "three_speakers.rttm", "three_speakers",
                 [Part(0.0, float("inf"), read_stm_text(d / "three_speakers.stm"))],
                 d / "three_speakers.stm")


def samples_of(path: Path) -> int:
    return int(subprocess.run(["soxi", "-s", str(path)], capture_output=True, text=True,
                              check=True).stdout.strip())


def long_input(work: Path, minutes: float) -> Input:
    """Build (once) the long concatenation and its references with sox."""
    out = work / f"long{int(minutes)}.flac"
    rttm, meta = out.with_suffix(".rttm"), out.with_suffix(".json")
    if out.exists() and rttm.exists() and meta.exists():
        return Input("long", out, rttm, out.stem, [Part(**p) for p in json.loads(meta.read_text())])
    from pyannote.database.util import load_rttm

    from msw_audio.speech.audio import load_audio

    work.mkdir(parents=True, exist_ok=True)
    demo, sample = demo_input(), sample_input()
    # sox cannot read Opus: decode the demo once to a 16-bit WAV.
    demo_wav = work / "demo.wav"
    if not demo_wav.exists():
        import numpy as np

        pcm = (np.clip(load_audio(demo.audio), -1, 1) * 32767).round().astype("<i2")
        with tempfile.NamedTemporaryFile(suffix=".raw") as tmp:
            pcm.tofile(tmp.name)
            subprocess.run(["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16",
                            "-c", "1", tmp.name, str(demo_wav)], check=True)
    ami_dir = shared_dir() / "data" / "audio" / "ami-clips"
    ami = sorted(ami_dir.glob("*.wav"))
    if not ami:
        sys.exit(f"no AMI clips in {ami_dir}: set MSW_SHARED")
    ami_refs = load_rttm(str(ami_dir / "reference.rttm"))
    pieces = [(demo_wav, load_rttm(str(demo.rttm))["demo"], demo.parts[0].text)]
    pieces += [(sample.audio, load_rttm(str(sample.rttm))["sample"], sample.parts[0].text)]
    pieces += [(p, ami_refs[p.stem], None) for p in ami]
    plan, total = [], 0
    while total < minutes * 60 * 16000:
        for piece in pieces:
            plan.append((piece, total))
            total += samples_of(piece[0])
    lines, parts = [], []
    for (path, ref, text), offset in plan:
        off = offset / 16000
        for seg, _, label in ref.itertracks(yield_label=True):
            lines.append(f"SPEAKER {out.stem} 1 {seg.start + off:.3f} {seg.duration:.3f} "
                         f"<NA> <NA> {label} <NA> <NA>\n")
        if text:
            parts.append(Part(off, off + samples_of(path) / 16000, text))
    subprocess.run(["sox", *[str(p[0][0]) for p in plan], "-b", "16", "-r", "16000", "-c", "1",
                    str(out)], check=True)
    rttm.write_text("".join(lines))
    meta.write_text(json.dumps([asdict(p) for p in parts]))
    return Input("long", out, rttm, out.stem, parts)


# -- one run, in a child process -------------------------------------------------------------


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).replace("'", "").split())


class RssSampler:
    """VmRSS every half second, tagged with the stages running at that moment.

    Why: ``ru_maxrss`` says how high a run went, not when; the stage that sets the peak is
    the one to work on (issue 17). The stages are the pipeline's own progress reports
    (transcription and diarization overlap, so a sample may carry both, with their
    fractions). The file has every sample and, per stage, the highest one seen while it ran.
    """

    def __init__(self, active: dict[str, float], every: float = 0.5):
        import threading

        self.active, self.every = active, every
        self.samples: list[tuple[float, float, dict[str, float]]] = []
        self.t0 = time.perf_counter()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    @staticmethod
    def rss_mb() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def _run(self) -> None:
        while not self._done.wait(self.every):
            self.samples.append((round(time.perf_counter() - self.t0, 1),
                                 round(self.rss_mb(), 1),
                                 {k: round(v, 3) for k, v in dict(self.active).items()}))

    def stop(self, out: Path) -> None:
        self._done.set()
        self._thread.join()
        by_stage: dict[str, dict] = {}
        for t, rss, stages in self.samples:
            for stage in stages or {"(between stages)": 0.0}:
                best = by_stage.get(stage)
                if best is None or rss > best["rss_mb"]:
                    by_stage[stage] = {"rss_mb": rss, "t": t, "with": stages}
        peak = max(self.samples, key=lambda s: s[1], default=None)
        out.write_text(json.dumps({"peak": peak, "by_stage": by_stage,
                                   "samples": self.samples}))


def child(spec: dict) -> dict:
    """Process one input with the real pipeline; returns timings, memory, WER and DER."""
    from msw_audio.speech.weights import offline_environment

    offline_environment()
    import jiwer
    import torch
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    from msw_audio.errors import MswError
    from msw_audio.pipeline import Pipeline, PipelineConfig
    from msw_audio.speech.diarize import DiarizeOptions, turns_to_annotation
    from msw_audio.speech.transcribe import TranscribeOptions

    threads = spec["threads"]
    torch.set_num_threads(threads)
    config = PipelineConfig(
        transcribe=TranscribeOptions(model=spec["model"], device=spec["device"], threads=threads),
        diarize=DiarizeOptions(device=spec["device"], threads=threads),
        cache_dir=None,  # no stage cache: every stage really runs
    )
    pipeline = Pipeline(config)
    notes = []
    t0 = time.perf_counter()
    _ = pipeline.transcriber, pipeline.diarizer
    try:
        _ = pipeline.tagger
    except (MswError, ImportError, OSError) as exc:  # tagger not shipped yet: say so
        config.tag = False
        notes.append(f"tag/score skipped: {exc}")
    loaded = time.perf_counter() - t0
    first: dict[str, float] = {}
    last: dict[str, float] = {}

    active: dict[str, float] = {}

    def progress(stage: str, fraction: float) -> None:
        now = time.perf_counter() - t0
        first.setdefault(stage, now)
        last[stage] = now
        if fraction >= 1.0:
            active.pop(stage, None)
        else:
            active[stage] = fraction

    sampler = RssSampler(active) if spec.get("timeline") else None
    session = pipeline.process(spec["audio"], spec["out_dir"], progress)
    if sampler is not None:
        sampler.stop(Path(spec["timeline"]))
    total = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # Each stage's own span, first to last progress report: transcription and diarization
    # run side by side, so their times overlap and do not add up to the total.
    stages = {"load": round(loaded, 2)}
    for stage in STAGE_ORDER:
        if stage in first:
            stages[stage] = round(last[stage] - first[stage], 2)

    words = [w for u in session.utterances for w in u.words]
    wer = None
    if spec["parts"]:
        refs, hyps = [], []
        for part in spec["parts"]:
            refs.append(normalise(part["text"]))
            hyps.append(normalise(" ".join(
                w.text for w in words if part["start"] <= (w.start + w.end) / 2 < part["end"])))
        wer = jiwer.wer(" ".join(refs), " ".join(hyps))
    word_spk, unit = None, None
    if spec["stm"]:
        from msw_audio.speech.evaluation import (
            boundary_f1,
            read_stm_turns,
            read_stm_words,
            word_speaker_error,
        )

        word_spk = word_speaker_error(read_stm_words(Path(spec["stm"])), words)
        ref_turns = read_stm_turns(Path(spec["stm"]))
        unit = {"per_turn": len(session.utterances) / len(ref_turns),
                "utterances": len(session.utterances), "ref_turns": len(ref_turns),
                **boundary_f1(ref_turns, [(u.start, u.end) for u in session.utterances])}
    ref = load_rttm(spec["rttm"])[spec["uri"]]
    hyp = turns_to_annotation(session.turns, uri=spec["uri"])
    der = {str(c): DiarizationErrorRate(collar=c, skip_overlap=False)(ref, hyp)
           for c in (0.0, 0.25)}
    return {
        "name": spec["name"],
        "duration": session.audio.duration,
        "stages": stages,
        "total": round(total, 2),
        "total_no_load": round(total - stages["load"], 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wer": wer,
        "word_spk": word_spk,
        "unit": unit,
        "der": der,
        "speakers_ref": len(ref.labels()),
        "speakers_found": len(hyp.labels()),
        "notes": notes,
        "diarization": {k: v for k, v in session.models.get("diarization", {}).items()
                        if k in ("segmentation_step", "threshold", "clustering")},
    }


def run_child(inp: Input, args: argparse.Namespace, out_dir: Path) -> dict:
    spec = {"name": inp.name, "audio": str(inp.audio), "rttm": str(inp.rttm), "uri": inp.uri,
            "parts": [asdict(p) for p in inp.parts], "out_dir": str(out_dir),
            "stm": str(inp.stm) if inp.stm else None,
            "model": args.model, "device": args.device, "threads": args.threads,
            "timeline": str(args.timeline.with_suffix(f".{inp.name}.json"))
            if args.timeline else None}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{inp.name}: pipeline failed\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- report ------------------------------------------------------------------------------


def table(results: list[dict], markdown: bool) -> str:
    stages = [s for s in STAGE_ORDER if any(s in r["stages"] for r in results)]
    head = ["input", "audio s"] + [f"{s} RTF" for s in stages if s != "load"] + [
        "load s", "total RTF", "RTF excl. load", "CPU s/audio s", "peak RSS MB", "WER",
        "word spk err", "utt/ref turn", "turn F1 ±.5", "DER c0", "DER c.25", "spk ref/found"]
    rows = []
    for r in results:
        d = r["duration"]
        row = [r["name"], f"{d:.1f}"]
        row += [f"{r['stages'].get(s, 0.0) / d:.3f}" for s in stages if s != "load"]
        row += [f"{r['stages']['load']:.1f}", f"{r['total'] / d:.3f}",
                f"{r['total_no_load'] / d:.3f}", f"{r['cpu_s'] / d:.3f}",
                f"{r['peak_rss_mb']:.0f}",
                "-" if r["wer"] is None else f"{r['wer']:.3f}",
                "-" if r.get("word_spk") is None else f"{r['word_spk']:.3f}",
                "-" if not r.get("unit") else f"{r['unit']['per_turn']:.2f}",
                "-" if not r.get("unit") else f"{r['unit']['f1']:.3f}",
                f"{r['der']['0.0']:.3f}", f"{r['der']['0.25']:.3f}",
                f"{r['speakers_ref']}/{r['speakers_found']}"]
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*head)] + [fmt.format(*row) for row in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", nargs="+", choices=["sample", "demo", "three", "long"],
                        default=["sample", "demo", "three", "long"])
    parser.add_argument("--model", default="tiny.en", help="Whisper model (tiny.en, base, path)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch/CTranslate2 threads")
    parser.add_argument("--long-minutes", type=float, default=30.0)
    parser.add_argument("--work-dir", type=Path, default=REPO / "out" / "benchmarks",
                        help="where the long concatenation and the outputs go")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--timeline", type=Path,
                        help="sample VmRSS every 0.5 s with the running stages into "
                             "FILE.<input>.json (where the peak is, not only how high)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0

    builders = {"sample": sample_input, "demo": demo_input, "three": three_input,
                "long": lambda: long_input(args.work_dir, args.long_minutes)}
    results = []
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    for name in args.inputs:
        inp = builders[name]()
        print(f"running {name} ({inp.audio.name}) ...", file=sys.stderr, flush=True)
        result = run_child(inp, args, args.work_dir / "runs" / name)
        results.append(result)
        print(f"  diarization settings: {result['diarization']}", file=sys.stderr)
        for note in result["notes"]:
            print(f"  note: {note}", file=sys.stderr)
        print(f"  {name}: {result['total']:.1f} s wall, stages {result['stages']}",
              file=sys.stderr, flush=True)
    print(f"model={args.model} device={args.device} threads={args.threads} "
          f"cpus={os.cpu_count()} loadavg={' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(table(results, args.markdown))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
