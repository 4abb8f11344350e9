#!/usr/bin/env python3
"""Generate a multi-speaker spoken session, with exact references, from a dialogue file.

Why: msw-audio needs recordings of a practitioner, a parent and a child whose true speakers,
times and words are known exactly — for the demo, for the diarization/ASR tests and for the
benchmarks — and real family recordings can never be committed. espeak-ng synthesises each
turn with a clearly different voice per speaker, sox resamples it to 16 kHz mono, and the
turns are laid on one timeline with natural pauses and a few overlapping backchannels.
Because every reference time is computed from sample positions in that timeline, the RTTM,
the transcript and the STM are exact, and the same dialogue always gives the same files.

Dialogue file (YAML)::

    seed: 7                      # drives the pauses and overlaps (deterministic)
    pause: [0.3, 1.2]            # seconds of silence before a turn, drawn uniformly
    noise_dbfs: -58              # light room noise under everything (None/absent: none)
    speakers:
      practitioner: {voice: en-gb+f3, pitch: 60, speed: 150}
      parent: {voice: en-us+m3, pitch: 30, speed: 130, gain_db: 1, effects: [bass, "+4"]}
      child: {voice: en+f5, pitch: 85, speed: 185}
    turns:
      - practitioner: So, how have things been since I last came round?
      - parent: Yeah, not bad.
        overlap: 0.4             # start 0.4 s before the previous turn ends (a backchannel)
      - child: Mm.
        pause: 0.15              # fixed pause instead of a drawn one

Outputs, for ``OUT_PREFIX`` = ``dir/name`` (the uri is ``name``): ``name.<ogg|flac|wav>``,
``name.rttm`` (speaker = the speaker's key, i.e. its role), ``name.txt`` (``speaker: text``
per turn) and ``name.stm`` (``uri 1 speaker start end text``, as pyannote's sample.stm).

Usage::

    python scripts/make_session.py msw_audio/demo/dialogue.yaml msw_audio/demo/demo --format ogg
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

SAMPLE_RATE = 16000
FRAME = 160  # 10 ms analysis frames for the speech/non-speech reference
SPEECH_THRESHOLD = 10 ** (-45 / 20)  # frame peak above -45 dBFS counts as speech
MIN_GAP = 0.25  # silences shorter than this inside a turn stay inside one RTTM segment
PEAK = 10 ** (-3 / 20)  # normalise the mix to -3 dBFS


@dataclass(frozen=True)
class Voice:
    """How one speaker sounds: espeak-ng voice+variant, pitch (0-99), speed (wpm), and extras."""

    voice: str
    pitch: int = 50
    speed: int = 160
    gain_db: float = 0.0
    effects: tuple[str, ...] = ()  # extra sox effects, e.g. ("bass", "+4")


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str
    pause: float | None = None  # silence before the turn; None: drawn from the dialogue's range
    overlap: float | None = None  # start this many seconds before the previous turn ends


@dataclass
class Dialogue:
    voices: dict[str, Voice]
    turns: list[Turn]
    seed: int = 0
    pause: tuple[float, float] = (0.3, 1.2)
    noise_dbfs: float | None = None
    lead: float = 0.5  # silence before the first turn and after the last


@dataclass
class Placed:
    """A synthesised turn on the session timeline (sample positions)."""

    turn: Turn
    start: int  # first sample of the clip in the session
    audio: np.ndarray  # float32, trimmed to its first/last speech frame
    segments: list[tuple[int, int]] = field(default_factory=list)  # speech, session samples


def load_dialogue(path: Path) -> Dialogue:
    """Parse and check a dialogue file; errors name the turn that is wrong."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "speakers" not in data or "turns" not in data:
        raise ValueError(f"{path}: needs 'speakers' and 'turns'")
    voices = {}
    for name, spec in data["speakers"].items():
        spec = dict(spec)
        spec["effects"] = tuple(str(e) for e in spec.get("effects", ()))
        voices[str(name)] = Voice(**spec)
    turns = []
    for i, raw in enumerate(data["turns"], 1):
        raw = dict(raw)
        pause, overlap = raw.pop("pause", None), raw.pop("overlap", None)
        if len(raw) != 1:
            raise ValueError(f"{path}: turn {i} must have exactly one 'speaker: text' entry")
        ((speaker, text),) = raw.items()
        if speaker not in voices:
            raise ValueError(f"{path}: turn {i} has unknown speaker {speaker!r}")
        if i == 1 and overlap is not None:
            raise ValueError(f"{path}: the first turn cannot overlap")
        turns.append(Turn(str(speaker), " ".join(str(text).split()), pause, overlap))
    lo, hi = data.get("pause", (0.3, 1.2))
    return Dialogue(
        voices=voices,
        turns=turns,
        seed=int(data.get("seed", 0)),
        pause=(float(lo), float(hi)),
        noise_dbfs=data.get("noise_dbfs"),
        lead=float(data.get("lead", 0.5)),
    )


def require_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        sys.exit(f"make_session: please install {' and '.join(missing)} (apt-get install "
                 f"{' '.join(missing)})")


def synthesise(text: str, voice: Voice, workdir: Path) -> np.ndarray:
    """One turn as float32 16 kHz mono: espeak-ng at 22.05 kHz, then sox (high-quality rate).

    10 dB of headroom go in before the speaker's effects, so EQ boosts never clip; the mix
    is peak-normalised afterwards anyway.
    """
    raw, out = workdir / "espeak.wav", workdir / "turn.raw"
    for stale in (raw, out):  # espeak-ng exits 0 even on a bad option: never reuse a file
        stale.unlink(missing_ok=True)
    cmd = ["espeak-ng", "--stdin", "-v", voice.voice, "-p", str(voice.pitch),
           "-s", str(voice.speed), "-w", str(raw)]
    # Text on stdin, so a turn beginning with "-" is never read as an option.
    done = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=True)
    if not raw.exists() or done.stderr.strip():
        raise RuntimeError(f"espeak-ng failed for voice {voice.voice!r}: "
                           f"{done.stderr.decode(errors='replace').strip()}")
    subprocess.run(
        ["sox", str(raw), "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1",
         str(out), "gain", "-10", *voice.effects, "gain", f"{voice.gain_db:+.2f}", "rate",
         "-v", str(SAMPLE_RATE)],
        check=True,
    )
    return np.fromfile(out, dtype="<f4").astype(np.float32)


def speech_frames(audio: np.ndarray) -> np.ndarray:
    """Boolean per 10 ms frame: does the frame hold speech (peak above the threshold)?"""
    n = len(audio) // FRAME
    if n == 0:
        return np.zeros(0, dtype=bool)
    peaks = np.abs(audio[: n * FRAME]).reshape(n, FRAME).max(axis=1)
    return peaks > SPEECH_THRESHOLD * np.abs(audio).max()


def speech_segments(audio: np.ndarray) -> list[tuple[int, int]]:
    """Speech regions of a clean clip in samples, bridging pauses shorter than MIN_GAP."""
    voiced = speech_frames(audio)
    segments: list[list[int]] = []
    for i in np.flatnonzero(voiced):
        start, end = int(i) * FRAME, (int(i) + 1) * FRAME
        if segments and start - segments[-1][1] < MIN_GAP * SAMPLE_RATE:
            segments[-1][1] = end
        else:
            segments.append([start, end])
    return [(s, min(e, len(audio))) for s, e in segments]


def trim(audio: np.ndarray) -> np.ndarray:
    """Cut the clip to its first..last speech frame, so pauses are exactly what we place."""
    segs = speech_segments(audio)
    if not segs:
        raise ValueError("espeak-ng produced no audible speech")
    return audio[segs[0][0] : segs[-1][1]]


def place_turns(dialogue: Dialogue, clips: list[np.ndarray]) -> list[Placed]:
    """Lay the clips on a timeline: drawn pauses, and overlaps that start inside the last turn."""
    rng = random.Random(dialogue.seed)
    placed: list[Placed] = []
    cursor = int(dialogue.lead * SAMPLE_RATE)  # end of everything placed so far
    for turn, clip in zip(dialogue.turns, clips, strict=True):
        drawn = rng.uniform(*dialogue.pause)  # always drawn: editing one turn keeps the rest
        if turn.overlap is not None and placed:
            prev = placed[-1]
            prev_end = prev.start + len(prev.audio)
            start = max(prev.start, prev_end - int(round(turn.overlap * SAMPLE_RATE)))
        else:
            pause = turn.pause if turn.pause is not None else drawn
            start = cursor + int(round(pause * SAMPLE_RATE))
        item = Placed(turn, start, clip)
        item.segments = [(start + s, start + e) for s, e in speech_segments(clip)]
        placed.append(item)
        cursor = max(cursor, start + len(clip))
    return placed


def mix(dialogue: Dialogue, placed: list[Placed]) -> np.ndarray:
    """Sum the placed clips, add the room noise, and normalise the peak."""
    total = max(p.start + len(p.audio) for p in placed) + int(dialogue.lead * SAMPLE_RATE)
    out = np.zeros(total, dtype=np.float64)
    for p in placed:
        out[p.start : p.start + len(p.audio)] += p.audio
    out *= PEAK / max(np.abs(out).max(), 1e-9)
    if dialogue.noise_dbfs is not None:
        noise = np.random.default_rng(dialogue.seed).standard_normal(total)
        # Gentle low-pass (moving average) so it sounds like room tone, not hiss.
        noise = np.convolve(noise, np.ones(4) / 4, mode="same")
        noise *= 10 ** (float(dialogue.noise_dbfs) / 20) / np.sqrt(np.mean(noise**2))
        out += noise
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def write_audio(audio: np.ndarray, path: Path, bitrate: int = 24000) -> None:
    """Write WAV/FLAC with sox, or Ogg Opus with PyAV (sox has no Opus); bit-exact output."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt in ("wav", "flac"):
        pcm = (np.clip(audio, -1, 1) * 32767).round().astype("<i2")
        with tempfile.NamedTemporaryFile(suffix=".raw") as tmp:
            pcm.tofile(tmp.name)
            subprocess.run(
                ["sox", "-t", "raw", "-r", str(SAMPLE_RATE), "-e", "signed", "-b", "16",
                 "-c", "1", tmp.name, "--comment", "", str(path)],
                check=True,
            )
        return
    if fmt not in ("ogg", "opus"):
        raise ValueError(f"unsupported audio format {fmt!r}: use ogg, flac or wav")
    import av

    # bitexact: fixed Ogg stream serial and no encoder tag, so the file is reproducible.
    with av.open(str(path), mode="w", format="ogg", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = bitrate
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        stream.options = {"application": "voip"}
        frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def secs(samples: int) -> float:
    return samples / SAMPLE_RATE


def write_references(placed: list[Placed], prefix: Path) -> None:
    """RTTM (speech regions), transcript (speaker: text) and STM (turn times + text)."""
    uri = prefix.name
    rttm = []
    for p in sorted(placed, key=lambda p: p.start):
        for s, e in p.segments:
            rttm.append((s, p.turn.speaker, e))
    rttm.sort()
    prefix.with_suffix(".rttm").write_text(
        "".join(
            f"SPEAKER {uri} 1 {secs(s):.3f} {secs(e - s):.3f} <NA> <NA> {spk} <NA> <NA>\n"
            for s, spk, e in rttm
        )
    )
    prefix.with_suffix(".txt").write_text(
        "".join(f"{p.turn.speaker}: {p.turn.text}\n" for p in placed), encoding="utf-8"
    )
    prefix.with_suffix(".stm").write_text(
        "".join(
            f"{uri} 1 {p.turn.speaker} {secs(p.start):.3f} {secs(p.start + len(p.audio)):.3f} "
            f"{p.turn.text}\n"
            for p in placed
        ),
        encoding="utf-8",
    )


def make_session(
    dialogue_path: Path, prefix: Path, formats: tuple[str, ...] = ("ogg",), bitrate: int = 24000
) -> dict:
    """Generate audio + references; returns a summary (duration, turns, talk time per speaker)."""
    require_tools()
    dialogue = load_dialogue(dialogue_path)
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    cache: dict[tuple[str, str], np.ndarray] = {}
    clips = []
    with tempfile.TemporaryDirectory(prefix="make_session-") as tmp:
        for turn in dialogue.turns:
            key = (turn.speaker, turn.text)
            if key not in cache:
                cache[key] = trim(synthesise(turn.text, dialogue.voices[turn.speaker], Path(tmp)))
            clips.append(cache[key])
    placed = place_turns(dialogue, clips)
    audio = mix(dialogue, placed)
    for fmt in formats:
        write_audio(audio, prefix.with_suffix(f".{fmt}"), bitrate)
    write_references(placed, prefix)
    talk: dict[str, float] = {}
    for p in placed:
        talk[p.turn.speaker] = talk.get(p.turn.speaker, 0.0) + sum(
            secs(e - s) for s, e in p.segments
        )
    overlaps = sum(1 for t in dialogue.turns if t.overlap is not None)
    return {"uri": prefix.name, "duration": round(secs(len(audio)), 3),
            "turns": len(placed), "overlaps": overlaps,
            "talk_time": {k: round(v, 1) for k, v in talk.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dialogue", type=Path, help="dialogue YAML file")
    parser.add_argument("prefix", type=Path, help="output path without extension (uri = name)")
    parser.add_argument("--format", dest="formats", action="append",
                        choices=["ogg", "flac", "wav"],
                        help="audio format(s) to write (repeatable; default ogg)")
    parser.add_argument("--bitrate", type=int, default=24000, help="Opus bitrate (bit/s)")
    args = parser.parse_args(argv)
    summary = make_session(args.dialogue, args.prefix, tuple(args.formats or ["ogg"]),
                           args.bitrate)
    print(yaml.safe_dump(summary, sort_keys=False).strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
