"""The speech pipeline as explicit stages: decode -> transcribe -> diarize -> align -> roles
-> tag -> score -> write.

``Pipeline`` holds the loaded models (load once, process many recordings: the worker does
this); ``process_recording`` is the one-shot convenience. Transcription and diarization are
cached per recording (``msw_audio.speech.cache``), so rerunning after a crash or a kill repeats no
finished model stage. Audio is validated before anything is created in ``out_dir``: a bad
recording fails fast and writes nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from msw_audio import __version__
from msw_audio.records import AudioInfo, Session, Turn, Word
from msw_audio.speech.align import AlignOptions, assign_speakers, build_utterances, speakers_from
from msw_audio.speech.audio import DEFAULT_MAX_DURATION, check_file, sha256_file
from msw_audio.speech.cache import StageCache, default_cache_dir
from msw_audio.speech.diarize import (
    RUNTIME_FIELDS,
    DiarizeOptions,
    feature_settings,
    load_features,
    save_features,
)
from msw_audio.speech.gapfill import RULES_VERSION as GAP_RULES
from msw_audio.speech.gapfill import (
    GapFillOptions,
    WhisperSpanDecoder,
    fill_gaps,
    find_gaps,
    insert_words,
)
from msw_audio.speech.heap import limit_arenas, release_freed_memory
from msw_audio.speech.peaks import load_peaks, peaks_from_samples, save_peaks
from msw_audio.speech.scratch import ScratchAudio, decode_to_scratch
from msw_audio.speech.transcribe import TranscribeOptions
from msw_audio.speech.writers import write_outputs

Progress = Callable[[str, float], None]
#: Stage-cache name of the diarization networks' outputs (``speech.diarize.save_features``)
DIARIZE_FEATURES = "diarize-features"
STAGES = ("decode", "transcribe", "diarize", "align", "tag", "score", "write")


# numpy's BLAS (OpenBLAS) serves the small matrix products of Whisper's log-mel features and
# the talk-context stage. Its thread count comes from OMP_NUM_THREADS / OPENBLAS_NUM_THREADS
# at import, and a different count changes the features in the last bit, which was enough to
# change a transcript ("...for your country." vs "...for your country"). One thread, always,
# whatever the environment says: these products take milliseconds.
BLAS_THREADS = 1


def default_threads() -> int:
    """Threads per model stage. Transcription and diarization run at the same time, so
    each gets half the cores: oversubscribed torch threads on a busy 2-core machine made
    one diarization run 24x slower here."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass
class PipelineConfig:
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)
    diarize: DiarizeOptions = field(default_factory=DiarizeOptions)
    align: AlignOptions = field(default_factory=AlignOptions)
    #: the second Whisper pass on diarization turns without words (``speech.gapfill``)
    gapfill: GapFillOptions = field(default_factory=GapFillOptions)
    max_duration: float = DEFAULT_MAX_DURATION
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    tagger_dir: Path | None = None  # None: the shipped model in models/tagger
    tag: bool = True
    score: bool = True
    #: Codebook YAML that codes the sessions (None: the shipped one); recorded in session.json.
    codebook: Path | None = None


def resolve_threads(config: PipelineConfig) -> PipelineConfig:
    """The config with every stage's thread count made explicit (0 means "half the cores").

    Thread counts are settings like any other: explicit, recorded in session.json and part
    of the transcription cache key, so a run never depends on what the environment
    (OMP_NUM_THREADS, torch's defaults) happens to say.
    """
    threads = default_threads()
    if not config.transcribe.threads:
        config = replace(config, transcribe=replace(config.transcribe, threads=threads))
    if not config.diarize.threads:
        config = replace(config, diarize=replace(config.diarize, threads=threads))
    return config


@contextmanager
def pinned_blas() -> Iterator[None]:
    """numpy's BLAS held at ``BLAS_THREADS`` for the duration (process-wide: both model
    stages run inside it, so neither sees the count change under it)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        yield



class Pipeline:
    """Loaded models plus the stage logic. Models load lazily, on first use."""

    def __init__(self, config: PipelineConfig | None = None):
        # Before any model thread starts: two malloc arenas for the two model stages, so a
        # long recording's transient buffers are not spread over up to 8 heaps per core.
        limit_arenas()
        self.config = resolve_threads(config or PipelineConfig())
        self.cache = StageCache(self.config.cache_dir)
        self._transcriber = None
        self._diarizer = None
        self._tagger = None
        self._codebook = None

    def with_codebook(self, codebook: Path) -> Pipeline:
        """This pipeline's loaded speech models with another codebook (its own tagger):
        a supervision recording on a worker that codes visits loads no Whisper twice."""
        other = Pipeline(replace(self.config, codebook=Path(codebook)))
        other._transcriber, other._diarizer = self._transcriber, self._diarizer
        return other

    # -- model access -------------------------------------------------------------------
    @property
    def transcriber(self):
        if self._transcriber is None:
            from msw_audio.speech.transcribe import Transcriber

            cache_root = self.config.cache_dir or default_cache_dir()
            self._transcriber = Transcriber(self.config.transcribe,
                                            cache_dir=cache_root / "models")
        return self._transcriber

    @property
    def diarizer(self):
        if self._diarizer is None:
            from msw_audio.speech.diarize import Diarizer

            self._diarizer = Diarizer(self.config.diarize)
        return self._diarizer

    @property
    def codebook(self):
        """The one Codebook every stage of this pipeline reads (loaded once)."""
        if self._codebook is None:
            from msw_audio.coding.codebook import load_codebook

            self._codebook = load_codebook(self.config.codebook)
        return self._codebook

    @property
    def tagger(self):
        if self._tagger is None:
            from msw_audio.coding.tagger import load_tagger

            self._tagger = load_tagger(self.config.tagger_dir, codebook=self.codebook)
        return self._tagger

    # -- stages -------------------------------------------------------------------------
    def words(self, audio, sha: str, progress: Progress) -> list[Word]:
        progress("transcribe", 0.0)
        settings = {"stage": "transcribe", **asdict(self.config.transcribe),
                    "blas_threads": BLAS_THREADS}
        cached = self.cache.get(sha, "transcribe", settings)
        if cached is not None:
            progress("transcribe", 1.0)
            return [Word(**w) for w in cached]
        words = list(self.transcriber.words(audio, lambda f: progress("transcribe", f)))
        self.cache.put(sha, "transcribe", settings, [asdict(w) for w in words])
        return words

    def turns(self, audio, sha: str, progress: Progress) -> list[Turn]:
        progress("diarize", 0.0)
        opts = asdict(self.config.diarize)
        for key in RUNTIME_FIELDS:
            opts.pop(key)  # do not change the result
        cached = self.cache.get(sha, "diarize", opts)
        if cached is not None:
            progress("diarize", 1.0)
            return [Turn(**t) for t in cached]
        features_file = self.cache.file(sha, DIARIZE_FEATURES,
                                        feature_settings(self.config.diarize))
        features = None
        if features_file is not None and features_file.is_file():
            try:  # another speaker count of the same recording: reuse the networks' outputs
                features = load_features(features_file)
            except (OSError, ValueError, KeyError):
                features = None
        if features is None:
            features = self.diarizer.features(audio, lambda f: progress("diarize", f))
            if features_file is not None:
                # kept so "re-split speakers" re-runs only the clustering (seconds)
                save_features(features_file, features)
        turns = self.diarizer.turns(features, options=self.config.diarize)
        del features
        release_freed_memory()  # the networks' outputs and the linkage: not kept to the end
        progress("diarize", 1.0)
        self.cache.put(sha, "diarize", opts, [asdict(t) for t in turns])
        return turns

    def gap_words(self, audio, sha: str, words: list[Word], turns: list[Turn],
                  progress: Progress) -> list[Word]:
        """Words of the turns Whisper left empty, decoded alone (``speech.gapfill``),
        cached on the recording, its words and turns and every setting that decides them.

        A stage of its own in the progress (``gapfill``): each turn is one Whisper decode,
        so on an hour-long visit it takes minutes after both model stages are done."""
        if not self.config.gapfill.enabled:
            return []
        progress("gapfill", 0.0)
        import hashlib
        import json

        inputs = json.dumps([[asdict(w) for w in words], [asdict(t) for t in turns]])
        settings = {"stage": "gapfill", "rules": GAP_RULES, **asdict(self.config.gapfill),
                    "transcribe": asdict(self.config.transcribe), "blas_threads": BLAS_THREADS,
                    "inputs": hashlib.sha256(inputs.encode()).hexdigest()}
        cached = self.cache.get(sha, "gapfill", settings)
        if cached is not None:
            progress("gapfill", 1.0)
            return [Word(**w) for w in cached]
        extra = (fill_gaps(words, turns, audio, WhisperSpanDecoder(self.transcriber),
                           self.config.gapfill, lambda f: progress("gapfill", f))
                 if find_gaps(words, turns, self.config.gapfill) else [])  # no model load
        progress("gapfill", 1.0)
        self.cache.put(sha, "gapfill", settings, [asdict(w) for w in extra])
        return extra

    def with_speakers(self, num_speakers: int | None = None, min_speakers: int | None = None,
                      max_speakers: int | None = None) -> Pipeline:
        """This pipeline (same loaded models) with another speaker count for diarization:
        "people present" of one job, without loading the models again."""
        from msw_audio.speech.diarize import with_speaker_count

        other = Pipeline.__new__(Pipeline)
        other.__dict__.update(self.__dict__)
        other.config = replace(self.config, diarize=with_speaker_count(
            self.config.diarize, num_speakers, min_speakers, max_speakers))
        return other

    def process(self, audio_path: str | Path, out_dir: str | Path | None = None,
                progress: Progress | None = None) -> Session:
        """Run every stage on one recording; write the outputs to ``out_dir`` if given."""
        with pinned_blas():
            return self._process(Path(audio_path), out_dir, progress)

    @contextmanager
    def _decoded(self, audio_path: Path, sha: str) -> Iterator[ScratchAudio]:
        """The recording decoded into a scratch file, deleted when the block ends.

        Why not an array: an hour is 230 MB of float32 and four hours 920 MB, held while
        both models run; a scratch file read a window at a time keeps the worker's memory
        flat in the length (``speech.scratch``). It goes in the recording's cache folder
        (which erasure removes whole), or a private temporary folder without a cache.
        """
        if self.cache.root is not None:
            folder = self.cache.root / sha
            existed, root_existed = folder.is_dir(), self.cache.root.is_dir()
            try:
                audio = decode_to_scratch(audio_path, folder,
                                          max_duration=self.config.max_duration)
            except BaseException:
                if not existed:  # a bad file leaves nothing, not even an empty cache root
                    shutil.rmtree(folder, ignore_errors=True)
                    if not root_existed:
                        with suppress(OSError):
                            self.cache.root.rmdir()
                raise
            with audio:
                yield audio
            return
        with tempfile.TemporaryDirectory(prefix="msw-audio-") as tmp:
            with decode_to_scratch(audio_path, tmp,
                                   max_duration=self.config.max_duration) as audio:
                yield audio

    def _process(self, audio_path: Path, out_dir: str | Path | None,
                 progress: Progress | None) -> Session:
        progress = progress or (lambda stage, fraction: None)
        progress("decode", 0.0)
        check_file(audio_path)
        sha = sha256_file(audio_path)
        with self._decoded(audio_path, sha) as audio:
            if self.config.cache_dir is not None and load_peaks(self.config.cache_dir,
                                                                sha) is None:
                # the review screen's waveform, ~free here; a resumed run keeps the finished one
                save_peaks(self.config.cache_dir, sha, peaks_from_samples(audio, 16000))
            progress("decode", 1.0)

            if self._tagger is not None:  # idle until tagging: not resident at the peak
                self._tagger.encoder.release()
            # The two model stages are independent: run them side by side, one core each
            # (both engines release the GIL), so the wall time is the slower of the two.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="diarize") as pool:
                pending_turns = pool.submit(self.turns, audio, sha, progress)
                words = self.words(audio, sha, progress)
                turns = pending_turns.result()
            extra = self.gap_words(audio, sha, words, turns, progress)
            duration = round(len(audio) / 16000, 3)

        progress("align", 0.0)
        attributed = insert_words(assign_speakers(words, turns, self.config.align), extra)
        utterances = build_utterances(attributed, self.config.align, turns=turns)
        session = Session(
            audio=AudioInfo(path=str(audio_path.resolve()), sha256=sha,
                            duration=duration),
            speakers=speakers_from(turns, utterances),
            utterances=utterances,
            turns=turns,
            models={
                "msw_audio": __version__,
                "asr": self.transcriber.info if self._transcriber else
                {"name": self.config.transcribe.model, "cached": True,
                 "threads": self.config.transcribe.threads},
                # the speaker count asked for ("people present") is this run's, not the
                # loaded diarizer's (one loaded model serves every job's count)
                "diarization": {**self.diarizer.info, **{
                    k: getattr(self.config.diarize, k)
                    for k in ("num_speakers", "min_speakers", "max_speakers")}}
                if self._diarizer else {"cached": True, **asdict(self.config.diarize)},
                "gapfill": {"rules": GAP_RULES, **asdict(self.config.gapfill),
                            "inserted": len(extra)},
            },
        )
        progress("align", 1.0)

        from msw_audio.coding.roles import suggest_roles

        # Roles first: they decide which codes (practitioner or client) each speaker gets.
        session = suggest_roles(session, tagger=self.tagger if self.config.tag else None,
                                family_role=self.codebook.family_role)
        if self.config.tag:
            progress("tag", 0.0)
            session = self.tagger.tag_session(session)
            progress("tag", 1.0)
        if self.config.tag and self.config.score:
            from msw_audio.scoring.rubric import score_session

            progress("score", 0.0)
            session.scores = score_session(session, codebook=self.codebook)
            if self.codebook.rubric == "supervision":
                from msw_audio.scoring.supervision import score_supervision

                session.scores["supervision"] = score_supervision(session, self.codebook)
            progress("score", 1.0)

        session.models["codebook"] = self.codebook.to_record()
        if out_dir is not None:
            progress("write", 0.0)
            write_outputs(session, Path(out_dir))
            progress("write", 1.0)
        return session


def process_recording(audio_path: str | Path, out_dir: str | Path | None = None,
                      config: PipelineConfig | None = None,
                      progress: Progress | None = None) -> Session:
    """One-shot: load the models, process one recording, write its outputs."""
    return Pipeline(config).process(audio_path, out_dir, progress)
