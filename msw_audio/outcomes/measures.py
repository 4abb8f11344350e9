"""The family outcome measures (``measures.yaml``): goals, the GBO scale, feedback questions.

Why a data file: the measures a service asks families about change (another rating scale,
a second feedback question) without touching code, exactly like the codebook. The store,
the CSV import and the screen all validate against one ``Measures`` object, and
``load_measures`` raises ``InputError`` naming the bad entry, so a typo never reaches a
family's record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from msw_audio.errors import InputError

DEFAULT_MEASURES = Path(__file__).resolve().parent / "measures.yaml"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
QUESTION_KINDS = ("rating", "text")


@dataclass(frozen=True)
class Question:
    """One feedback question: a bounded integer rating or a short free text."""

    id: str
    text: str
    kind: str
    min: int = 0
    max: int = 0
    max_chars: int = 1000
    anchors: dict[int, str] = field(default_factory=dict)

    def check(self, value: Any) -> int | str | None:
        """The answer as stored (int or str), None when left blank; ``InputError`` if bad."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if self.kind == "text":
            text = str(value).strip()
            if len(text) > self.max_chars:
                raise InputError(f"{self.id}: at most {self.max_chars} characters")
            return text
        rating = _int(value, self.id)
        if not self.min <= rating <= self.max:
            raise InputError(f"{self.id} {rating} is outside {self.min}–{self.max}")
        return rating


@dataclass(frozen=True)
class Measures:
    name: str
    version: str
    max_active_goals: int
    goal_max_chars: int
    gbo_label: str
    gbo_min: int
    gbo_max: int
    gbo_anchors: dict[int, str]
    occasions: tuple[str, ...]
    questions: tuple[Question, ...]

    def gbo(self, value: Any) -> int:
        """A GBO rating as stored; ``InputError`` when it is not a whole number in range."""
        rating = _int(value, "GBO rating")
        if not self.gbo_min <= rating <= self.gbo_max:
            raise InputError(
                f"GBO rating {rating} is outside {self.gbo_min}–{self.gbo_max}"
            )
        return rating

    def occasion(self, value: str) -> str:
        if value not in self.occasions:
            raise InputError(f"occasion {value!r}: use one of {', '.join(self.occasions)}")
        return value

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise InputError(f"unknown feedback question {qid!r}")

    @property
    def rating_questions(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.kind == "rating")

    @property
    def text_questions(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.kind == "text")

    def answers(self, raw: dict[str, Any]) -> dict[str, int | str]:
        """Validated answers (blank ones dropped); unknown question ids are refused."""
        out: dict[str, int | str] = {}
        for key, value in raw.items():
            answer = self.question(key).check(value)
            if answer is not None:
                out[key] = answer
        if not out:
            raise InputError("feedback has no answers")
        return out

    def record(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"{what} {value!r} is not a whole number")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise InputError(f"{what} {value!r} is not a whole number") from None


def _anchors(raw: Any, where: str) -> dict[int, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"{where}: anchors must be a mapping of number to text")
    return {_int(k, f"{where} anchor"): str(v) for k, v in raw.items()}


def load_measures(path: Path | None = None) -> Measures:
    """Read and validate a measures file (default: the shipped ``measures.yaml``)."""
    path = Path(path) if path else DEFAULT_MEASURES
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read measures {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a measures file")
    try:
        goals, gbo, feedback = data["goals"], data["gbo"], data["feedback"]
        gmin, gmax = _int(gbo["min"], "gbo.min"), _int(gbo["max"], "gbo.max")
        max_active = _int(goals["max_active"], "goals.max_active")
        raw_questions = feedback["questions"]
    except (KeyError, TypeError) as exc:
        raise InputError(f"{path}: missing {exc}") from None
    if gmin >= gmax:
        raise InputError(f"{path}: gbo.min must be below gbo.max")
    if max_active < 1:
        raise InputError(f"{path}: goals.max_active must be 1 or more")
    occasions = tuple(gbo.get("occasions") or ("start", "review"))
    if occasions[:1] != ("start",):
        raise InputError(f"{path}: gbo.occasions must begin with 'start'")
    questions = []
    for i, q in enumerate(raw_questions or []):
        where = f"{path}: feedback question {i + 1}"
        if not isinstance(q, dict) or not _ID.match(str(q.get("id", ""))):
            raise InputError(f"{where}: needs a snake_case id")
        kind = q.get("kind")
        if kind not in QUESTION_KINDS:
            raise InputError(f"{where} ({q['id']}): kind must be one of {QUESTION_KINDS}")
        qmin, qmax = (_int(q.get("min", 0), where), _int(q.get("max", 0), where))
        if kind == "rating" and qmin >= qmax:
            raise InputError(f"{where} ({q['id']}): min must be below max")
        questions.append(
            Question(
                id=q["id"], text=str(q.get("text") or q["id"]), kind=kind, min=qmin, max=qmax,
                max_chars=_int(q.get("max_chars", 1000), where),
                anchors=_anchors(q.get("anchors"), where),
            )
        )
    if len({q.id for q in questions}) != len(questions):
        raise InputError(f"{path}: feedback question ids must be unique")
    return Measures(
        name=str(data.get("name") or path.stem),
        version=str(data.get("version") or "0"),
        max_active_goals=max_active,
        goal_max_chars=_int(goals.get("max_chars", 300), "goals.max_chars"),
        gbo_label=str(gbo.get("label") or "Goal-Based Outcomes"),
        gbo_min=gmin,
        gbo_max=gmax,
        gbo_anchors=_anchors(gbo.get("anchors"), f"{path}: gbo"),
        occasions=occasions,
        questions=tuple(questions),
    )
