"""Typed records passed between the pipeline stages.

Data flows one way: audio -> ``Word`` (transcribe) -> speaker turns (diarize) ->
``Utterance`` (align) -> ``CodeSuggestion`` (tag) -> scores -> review. Every stage
takes and returns these plain dataclasses, so a stage can be run, cached and tested
alone, and ``session.json`` is just ``Session.to_dict()``.

Times are seconds from the start of the recording (floats, rounded to ms on output).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0"

#: Roles a speaker can have. A practitioner's utterances get practitioner codes;
#: parents, children and others are "family members" (client codes).
ROLES = ("practitioner", "parent", "child", "other")
FAMILY_ROLES = ("parent", "child", "other")

#: The seven principles of Motivational Social Work an evaluator scores 1-5; the first
#: four are MITI global ratings. Codes are not listed here: the codebook is their source.
PRINCIPLES = (
    "evocation", "empathy", "purposefulness", "autonomy", "collaboration", "child_focus",
    "clarity_about_concerns",
)


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float = 1.0
    speaker: str | None = None


@dataclass
class Turn:
    """A stretch of time attributed to one speaker by diarization."""

    start: float
    end: float
    speaker: str


@dataclass
class CodeSuggestion:
    """One suggested behaviour code for an utterance, ranked by probability."""

    code: str
    probability: float
    source: str = "model"  # "model" (trained tagger) or "cue" (transparent cue rule)


@dataclass
class Utterance:
    id: str
    start: float
    end: float
    speaker: str
    text: str
    words: list[Word] = field(default_factory=list)
    codes: list[CodeSuggestion] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def top_code(self) -> CodeSuggestion | None:
        return self.codes[0] if self.codes else None


@dataclass
class Speaker:
    id: str
    role: str = "other"
    role_confidence: float = 0.0
    talk_time: float = 0.0


@dataclass
class AudioInfo:
    path: str
    sha256: str
    duration: float
    sample_rate: int = 16000


@dataclass
class Session:
    audio: AudioInfo
    speakers: list[Speaker] = field(default_factory=list)
    utterances: list[Utterance] = field(default_factory=list)
    #: Diarization turns (overlap-aware), the source of session.rttm.
    turns: list[Turn] = field(default_factory=list)
    #: What produced this session: {"asr": {...}, "diarization": {...}, "tagger": {...}}
    models: dict[str, Any] = field(default_factory=dict)
    #: Suggested principle and MITI scores (see msw_audio.scoring.rubric); None until scored.
    scores: dict[str, Any] | None = None
    language: str = "en"
    schema_version: str = SCHEMA_VERSION

    def speaker(self, speaker_id: str) -> Speaker | None:
        return next((s for s in self.speakers if s.id == speaker_id), None)

    def role_of(self, speaker_id: str) -> str:
        spk = self.speaker(speaker_id)
        return spk.role if spk else "other"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        version = str(data.get("schema_version", ""))
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(
                f"session.json schema version {version!r} is not supported "
                f"(this msw-audio reads {SCHEMA_VERSION})"
            )
        utterances = [
            Utterance(
                id=u["id"],
                start=u["start"],
                end=u["end"],
                speaker=u["speaker"],
                text=u["text"],
                words=[Word(**w) for w in u.get("words", [])],
                codes=[CodeSuggestion(**c) for c in u.get("codes", [])],
            )
            for u in data.get("utterances", [])
        ]
        return cls(
            audio=AudioInfo(**data["audio"]),
            speakers=[Speaker(**s) for s in data.get("speakers", [])],
            utterances=utterances,
            turns=[Turn(**t) for t in data.get("turns", [])],
            models=dict(data.get("models", {})),
            scores=data.get("scores"),
            language=data.get("language", "en"),
            schema_version=version,
        )
