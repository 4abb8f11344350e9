"""Write a ``Session`` in standard formats: JSON, RTTM, SRT, WebVTT, TSV, plain text, and
ELAN .eaf / Praat .TextGrid (``speech.annotation_tools``).

Every file is written atomically (temporary file in the same folder, fsync, rename), so a
crash or a kill never leaves half a file for a reviewer or the store to trip over.
``session.json`` is written last: its presence means the whole output set is complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from msw_audio.records import Session, Turn
from msw_audio.speech.annotation_tools import to_eaf, to_textgrid


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _label(session: Session, speaker: str) -> str:
    role = session.role_of(speaker)
    return f"{speaker} ({role})" if role != "other" else speaker


def to_json(session: Session) -> str:
    return json.dumps(session.to_dict(), indent=2, ensure_ascii=False) + "\n"


def to_rttm(turns: list[Turn], uri: str = "session") -> str:
    """NIST RTTM, one SPEAKER line per diarization turn (the format pyannote reads)."""
    return "".join(
        f"SPEAKER {uri} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
        for t in turns
    )


def to_stm(session: Session, uri: str = "session") -> str:
    """NIST STM, one line per utterance (``uri channel speaker start end text``): the
    reference format of ``speech.evaluation`` (a corrected session becomes a test set)."""
    lines = []
    for u in sorted(session.utterances, key=lambda u: (u.start, u.end)):
        text = " ".join(u.text.split())
        if text:
            lines.append(f"{uri} 1 {u.speaker} {u.start:.3f} {u.end:.3f} {text}\n")
    return "".join(lines)


def utterance_turns(session: Session) -> list[Turn]:
    """One turn per utterance (speaker, start, end): who spoke when, as the lines say."""
    return [Turn(round(u.start, 3), round(u.end, 3), u.speaker)
            for u in sorted(session.utterances, key=lambda u: (u.start, u.end)) if u.end > u.start]


def to_srt(session: Session) -> str:
    blocks = []
    for i, utt in enumerate(session.utterances, 1):
        start, end = _timestamp(utt.start, ","), _timestamp(utt.end, ",")
        blocks.append(f"{i}\n{start} --> {end}\n[{_label(session, utt.speaker)}] {utt.text}\n")
    return "\n".join(blocks)


def to_vtt(session: Session) -> str:
    blocks = ["WEBVTT\n"]
    for utt in session.utterances:
        start, end = _timestamp(utt.start, "."), _timestamp(utt.end, ".")
        speaker = _label(session, utt.speaker).replace(">", "")
        blocks.append(f"{utt.id}\n{start} --> {end}\n<v {speaker}>{utt.text}\n")
    return "\n".join(blocks)


def to_tsv(session: Session) -> str:
    lines = ["id\tstart\tend\tspeaker\trole\tcode\tconfidence\ttext"]
    for utt in session.utterances:
        top = utt.top_code
        code, conf = (top.code, f"{top.probability:.3f}") if top else ("", "")
        text = utt.text.replace("\t", " ").replace("\n", " ")
        lines.append(f"{utt.id}\t{utt.start:.3f}\t{utt.end:.3f}\t{utt.speaker}\t"
                     f"{session.role_of(utt.speaker)}\t{code}\t{conf}\t{text}")
    return "\n".join(lines) + "\n"


def to_text(session: Session) -> str:
    """Human-readable transcript: one line per utterance, with time and speaker/role."""
    lines = []
    for utt in session.utterances:
        stamp = _timestamp(utt.start, ".")[:-4]
        lines.append(f"[{stamp}] {_label(session, utt.speaker)}: {utt.text}")
    return "\n".join(lines) + "\n"


OUTPUTS: dict[str, Callable[[Session], str]] = {
    "session.srt": to_srt,
    "session.vtt": to_vtt,
    "session.tsv": to_tsv,
    "transcript.txt": to_text,
    "session.eaf": to_eaf,
    "session.TextGrid": to_textgrid,
}


def write_outputs(session: Session, out_dir: Path) -> list[Path]:
    """Write every output file into ``out_dir``; ``session.json`` last, as the completion mark."""
    out_dir = Path(out_dir)
    written = []
    rttm = out_dir / "session.rttm"
    atomic_write_text(rttm, to_rttm(session.turns, uri=_uri(session)))
    written.append(rttm)
    for name, render in OUTPUTS.items():
        atomic_write_text(out_dir / name, render(session))
        written.append(out_dir / name)
    atomic_write_text(out_dir / "session.json", to_json(session))
    written.append(out_dir / "session.json")
    return written


def _uri(session: Session) -> str:
    """RTTM uri: the recording's file stem without spaces (RTTM is space-separated)."""
    stem = Path(session.audio.path).stem or "session"
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)


def read_session(out_dir: Path) -> Session:
    return Session.from_dict(json.loads((Path(out_dir) / "session.json").read_text("utf-8")))
