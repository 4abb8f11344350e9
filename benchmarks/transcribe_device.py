"""Transcription speed on a device: msw-audio's Whisper stage beside plain faster-whisper.

A GPU worker moves only transcription to the GPU (diarization stays on the CPU), so this is
the figure that sizes one: real-time factor of ``speech.transcribe.Transcriber`` (windows,
VAD, block log-mel, word timestamps: exactly what the pipeline runs) and, as the peer, plain
``faster_whisper.WhisperModel.transcribe`` on the whole recording with the same model,
beam and word timestamps. Each recording is decoded once and handed to both as samples;
the model is loaded once per engine, and the first recording is run twice, the first time
as a warm-up (CUDA context, kernels), which is not counted.

It needs only faster-whisper, CTranslate2, PyAV and numpy, so it also runs on a machine that
has no pyannote or store (a lent GPU). Words are written as JSON (``--out``) so that WER is
computed afterwards where jiwer and the references are (``--score DIR``, on any machine):

    .venv/bin/python benchmarks/transcribe_device.py --device cpu --model base --out /tmp/t
    python3 benchmarks/transcribe_device.py --device cuda --model DIR --long-minutes 60 --out DIR
    .venv/bin/python benchmarks/transcribe_device.py --score DIR --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# name -> (audio, reference STM or None), relative to the repository unless absolute
DEFAULT_INPUTS = {
    "demo": ("msw_audio/demo/demo.ogg", "msw_audio/demo/demo.stm"),
    "three_speakers": ("tests/data/three_speakers/three_speakers.ogg",
                       "tests/data/three_speakers/three_speakers.stm"),
    "heldout_visit": ("benchmarks/data/heldout_visit/heldout_visit.ogg",
                      "benchmarks/data/heldout_visit/heldout_visit.stm"),
}


class GpuMemory:
    """Peak GPU memory in use (MiB) while a block runs, sampled with nvidia-smi every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=5).stdout
            return max(int(x) for x in out.split())
        except (OSError, ValueError, subprocess.SubprocessError):
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(0.2)

    def __enter__(self) -> GpuMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def msw_words(transcriber, audio) -> list[dict]:
    return [{"start": w.start, "end": w.end, "text": w.text} for w in transcriber.words(audio)]


def peer_words(model, audio, beam_size: int) -> list[dict]:
    """Plain faster-whisper: one call on the whole recording, its own defaults otherwise."""
    segments, _ = model.transcribe(audio, language="en", beam_size=beam_size,
                                   word_timestamps=True)
    return [{"start": round(w.start, 3), "end": round(w.end, 3), "text": w.word.strip()}
            for s in segments for w in (s.words or []) if w.word.strip()]


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from msw_audio.speech.audio import SAMPLE_RATE, load_audio
    from msw_audio.speech.transcribe import TranscribeOptions, Transcriber

    inputs = {name: (REPO / a, REPO / r if r else None) for name, (a, r) in DEFAULT_INPUTS.items()}
    for extra in args.input:
        path = Path(extra)
        stm = path.with_suffix(".stm")
        inputs[path.stem] = (path, stm if stm.exists() else None)
    audio = {name: load_audio(a) for name, (a, _r) in inputs.items()}
    if args.long_minutes:  # the demo repeated: a long visit with a known reference
        demo = audio["demo"]
        reps = int(np.ceil(args.long_minutes * 60 * SAMPLE_RATE / len(demo)))
        audio[f"long{args.long_minutes}"] = np.concatenate([demo] * reps)
        inputs[f"long{args.long_minutes}"] = (inputs["demo"][0], None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"device": args.device, "model": args.model, "compute_type": args.compute_type,
            "threads": args.threads, "beam_size": args.beam_size, "engines": {},
            "references": {n: str(r) if r else None for n, (_a, r) in inputs.items()},
            "repeats": {f"long{args.long_minutes}": reps} if args.long_minutes else {}}
    for engine in args.engines.split(","):
        t0 = time.perf_counter()
        options = TranscribeOptions(model=args.model, device=args.device,
                                    compute_type=args.compute_type, threads=args.threads,
                                    beam_size=args.beam_size)
        transcriber = Transcriber(options, Path(args.cache))
        load_s = time.perf_counter() - t0

        def decode(samples, transcriber=transcriber, engine=engine):
            if engine == "faster-whisper":
                return peer_words(transcriber.model, samples, args.beam_size)
            return msw_words(transcriber, samples)

        decode(audio["demo"][: 30 * SAMPLE_RATE])  # warm-up, not counted
        rows = {}
        for name, samples in audio.items():
            seconds = len(samples) / SAMPLE_RATE
            with GpuMemory() if args.device == "cuda" else _Nothing() as mem:
                t0, c0 = time.perf_counter(), time.process_time()
                words = decode(samples)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            rows[name] = {"audio_s": round(seconds, 1), "wall_s": round(wall, 2),
                          "cpu_s": round(cpu, 1), "rtf": round(wall / seconds, 4),
                          "words": len(words), "gpu_mib": getattr(mem, "peak", None)}
            (out / f"{engine}-{name}.json").write_text(json.dumps(words))
            print(f"{engine:15s} {name:16s} {seconds:7.1f} s audio  {wall:7.2f} s wall  "
                  f"RTF {wall / seconds:.4f}  {len(words)} words  "
                  f"GPU {rows[name]['gpu_mib']} MiB", flush=True)
        info = transcriber.info
        if engine == "faster-whisper":  # what the peer ran: none of msw-audio's stage
            info = {k: info[k] for k in ("name", "engine", "device", "compute_type")}
            info["call"] = "WhisperModel.transcribe(whole recording), its defaults (no VAD)"
        meta["engines"][engine] = {"load_s": round(load_s, 2), "info": info, "rows": rows}
        del transcriber, decode  # the next engine loads its own copy
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return 0


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def score(args: argparse.Namespace) -> int:
    """WER of each engine's words against this checkout's references: the RESULTS.md table."""
    from msw_audio.speech.evaluation import read_stm_text, wer

    folder = Path(args.score)
    meta = json.loads((folder / "meta.json").read_text())
    print(f"device {meta['device']}, model {meta['model']}, compute {meta['compute_type']}, "
          f"beam {meta['beam_size']}; long = demo x {meta['repeats']}")
    head = ("engine", "recording", "audio s", "wall s", "RTF", "CPU s", "GPU MiB", "words",
            "WER")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for engine, e in meta["engines"].items():
        for name, r in e["rows"].items():
            ref, cell = _local_reference(name), "–"
            if ref is not None:
                hyp = json.loads((folder / f"{engine}-{name}.json").read_text())
                cell = f"{wer(read_stm_text(ref), ' '.join(w['text'] for w in hyp)):.3f}"
            lines.append("| " + " | ".join((
                engine, name, f"{r['audio_s']:.0f}", f"{r['wall_s']:.1f}", f"{r['rtf']:.4f}",
                f"{r['cpu_s']:.0f}", str(r["gpu_mib"] or "–"), str(r["words"]), cell)) + " |")
        print(f"{engine}: model load {e['load_s']} s; {e['info']}")
    print("\n".join(lines))
    return 0


def _local_reference(name: str) -> Path | None:
    """This checkout's STM for a recording name (the device's paths differ)."""
    if name in DEFAULT_INPUTS:
        return REPO / DEFAULT_INPUTS[name][1]
    return None


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="tiny.en", help="tiny.en, base or a CTranslate2 folder")
    ap.add_argument("--compute-type", default="default")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--engines", default="msw-audio,faster-whisper")
    ap.add_argument("--input", action="append", default=[], help="another recording (STM beside)")
    ap.add_argument("--long-minutes", type=int, default=0)
    ap.add_argument("--cache", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "msw-tx"))
    ap.add_argument("--out", default="out/transcribe_device")
    ap.add_argument("--score", default=None, help="a folder written by --out: print WER table")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    return score(args) if args.score else run(args)


if __name__ == "__main__":
    raise SystemExit(main())
