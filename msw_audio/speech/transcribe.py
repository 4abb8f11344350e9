"""Speech to timestamped words with faster-whisper (CTranslate2).

Word timestamps are what let later stages hand each word to a speaker, so they are always
on. Silero VAD (shipped inside faster-whisper) skips silence, which is both faster and stops
Whisper inventing text in long pauses. ``condition_on_previous_text`` is off: on
conversational audio it lets one misheard phrase repeat for minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msw_audio.records import Word
from msw_audio.speech.weights import offline_environment, whisper_model_dir

SAMPLE_RATE = 16000
WINDOW_SECONDS = 600.0  # longest stretch handed to Whisper at once (bounds memory)


@dataclass(frozen=True)
class TranscribeOptions:
    model: str = "tiny.en"  # shipped name ("tiny.en", "base") or a local CTranslate2 folder
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    compute_type: str = "default"  # int8 on CPU, float16 on CUDA unless set
    language: str | None = "en"
    beam_size: int = 5
    threads: int = 0  # CTranslate2 threads; 0: its default (the pipeline always sets it)
    vad: bool = True


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class Transcriber:
    """A loaded Whisper model. Load once, transcribe many recordings."""

    def __init__(self, options: TranscribeOptions, cache_dir: Path):
        offline_environment()
        from faster_whisper import WhisperModel

        self.options = options
        self.model_dir = whisper_model_dir(options.model, cache_dir)
        self.device = resolve_device(options.device)
        compute = options.compute_type
        if compute == "default":
            compute = "float16" if self.device == "cuda" else "int8"
        self.compute_type = compute
        self.model = WhisperModel(
            str(self.model_dir),
            device=self.device,
            compute_type=compute,
            cpu_threads=options.threads,
            local_files_only=True,
        )
        self.multilingual = self.model.model.is_multilingual

    @property
    def info(self) -> dict:
        import faster_whisper

        return {
            "name": self.options.model,
            "path": str(self.model_dir),
            "engine": f"faster-whisper {faster_whisper.__version__}",
            "device": self.device,
            "compute_type": self.compute_type,
            "beam_size": self.options.beam_size,
            "vad": self.options.vad,
            "threads": self.options.threads,
        }

    def words(
        self, audio: np.ndarray, progress: Callable[[float], None] | None = None
    ) -> Iterator[Word]:
        """Yield words lazily as Whisper decodes, reporting the fraction of audio done.

        Long recordings are transcribed window by window (``windows``): faster-whisper
        computes the spectrogram of its whole input at once, which for an hour of audio
        is gigabytes; windows keep memory flat and cost linear in length.
        """
        duration = len(audio) / SAMPLE_RATE
        language = self.options.language if self.multilingual else None
        for start, stop in windows(audio):
            offset = start / SAMPLE_RATE
            segments, _info = self.model.transcribe(
                audio[start:stop],
                language=language,
                beam_size=self.options.beam_size,
                word_timestamps=True,
                vad_filter=self.options.vad,
                vad_parameters={"min_silence_duration_ms": 500},
                condition_on_previous_text=False,
            )
            for segment in segments:
                for w in segment.words or []:
                    text = w.word.strip()
                    if text:
                        yield Word(start=round(offset + w.start, 3),
                                   end=round(offset + w.end, 3), text=text,
                                   probability=round(float(w.probability), 4))
                if progress and duration:
                    progress(min(1.0, (offset + segment.end) / duration))
        if progress:
            progress(1.0)


def windows(audio: np.ndarray, max_seconds: float = WINDOW_SECONDS,
            search_seconds: float = 30.0) -> Iterator[tuple[int, int]]:
    """Split sample indices into windows of at most ``max_seconds``, each cut at the
    quietest 0.2 s within the last ``search_seconds`` of the window, so no word is cut."""
    n, size = len(audio), int(max_seconds * SAMPLE_RATE)
    hop = int(0.2 * SAMPLE_RATE)
    start = 0
    while n - start > size:
        lo = start + size - int(search_seconds * SAMPLE_RATE)
        region = audio[lo : start + size]
        frames = region[: len(region) // hop * hop].reshape(-1, hop)
        quietest = int(np.argmin(np.sqrt((frames**2).mean(axis=1))))
        cut = lo + quietest * hop + hop // 2
        yield start, cut
        start = cut
    yield start, n
