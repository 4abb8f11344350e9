"""Speech to timestamped words with faster-whisper (CTranslate2).

Word timestamps are what let later stages hand each word to a speaker, so they are always
on. Silero VAD (shipped inside faster-whisper) skips silence, which is both faster and stops
Whisper inventing text in long pauses. ``condition_on_previous_text`` is off: on
conversational audio it lets one misheard phrase repeat for minutes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msw_audio.records import Word
from msw_audio.speech.heap import release_freed_memory
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
        use_block_features(self.model)

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
            release_freed_memory()  # the window's buffers: back to the system, not kept
        if progress:
            progress(1.0)


def use_block_features(model) -> None:
    """Make faster-whisper compute its log-mel spectrogram in blocks of frames.

    Why: ``FeatureExtractor.__call__`` builds the whole input's frames, complex STFT and
    power spectrum at once: ~0.9 MB per second of speech, 425 MB for one 10-minute window,
    the largest single allocation of the pipeline (benchmarks/RESULTS.md, "Memory per
    worker"). ``BlockFeatureExtractor`` does the same arithmetic, frame block by frame
    block, and gives the same numbers (``tests/test_diarize_memory.py``).
    """
    from faster_whisper.feature_extractor import FeatureExtractor

    extractor = model.feature_extractor
    if type(extractor) is FeatureExtractor:
        extractor.__class__ = _block_extractor_class()


@functools.cache
def _block_extractor_class():
    from faster_whisper.feature_extractor import FeatureExtractor

    class BlockFeatureExtractor(FeatureExtractor):
        """faster-whisper 1.2's ``FeatureExtractor.__call__`` with the frames, the complex
        STFT and its copies made a block of frames at a time (the FFT is per frame); only
        the power spectrum (0.8 kB a frame) and the mel spectrogram are whole."""

        block_frames = 3000  # 30 s of frames: ~15 MB of temporaries

        def __call__(self, waveform: np.ndarray, padding=160, chunk_length=None):
            if chunk_length is not None:
                self.n_samples = chunk_length * self.sampling_rate
                self.nb_max_frames = self.n_samples // self.hop_length
            if waveform.dtype is not np.float32:
                waveform = waveform.astype(np.float32)
            if padding:
                waveform = np.pad(waveform, (0, padding))
            window = np.hanning(self.n_fft + 1)[:-1].astype("float32")
            half = self.n_fft // 2
            padded = np.pad(waveform[None], ((0, 0), (half, half)), mode="reflect")[0]
            n_frames = 1 + (len(padded) - self.n_fft) // self.hop_length
            kept = n_frames - 1  # the original drops the last frame (stft[..., :-1])
            stride = padded.strides[0]
            # the power spectrum, laid out as the original's (Fortran order), filled a block
            # at a time; the one mel product then runs on the same matrix as the original
            # (a product per block would differ in the last bit: BLAS blocks by size)
            magnitudes = np.empty((self.n_fft // 2 + 1, max(0, kept)), dtype=np.float32,
                                  order="F")
            for first in range(0, kept, self.block_frames):
                count = min(self.block_frames, kept - first)
                frames = np.lib.stride_tricks.as_strided(
                    padded[first * self.hop_length :], (1, count, self.n_fft),
                    (0, self.hop_length * stride, stride))
                stft = np.fft.rfft(frames * window, n=self.n_fft, axis=-1)
                stft = stft.transpose((0, 2, 1))[0].astype("complex64")
                magnitudes[:, first : first + count] = np.abs(stft) ** 2
                del frames, stft
            mel_spec = self.mel_filters @ magnitudes
            del magnitudes
            log_spec = np.log10(np.clip(mel_spec, a_min=1e-10, a_max=None))
            log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
            log_spec = (log_spec + 4.0) / 4.0
            return log_spec

    return BlockFeatureExtractor


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
