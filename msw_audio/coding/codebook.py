"""The codebook: the single source of behaviour codes (id, label, description, example, hotkey,
colour, which speaker roles it applies to, and what each code *means* to the rest of the tool).

A code's ``groups`` say what it counts as (``question``, ``reflection``, ``mi_adherent``, ...,
see ``GROUPS``); ``annomi`` lists the AnnoMI labels it is read from; ``tagger`` names the
tagger head class its examples train; ``cues`` are transparent regular expressions that
suggest it where no model label exists. Features, MITI, the rubric, the store, the tagger, the
AnnoMI reader and training all read these from one ``Codebook`` object passed to them, so a
new code needs only a YAML entry.

Why a data file: evaluators and researchers change codes (a supervision codebook, a new colour)
without touching code. Every code id is snake_case and is what session.json, the store and the
training files use. ``load_codebook`` validates the file and raises ``InputError`` with the
offending entry, so a typo never reaches the review screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from msw_audio.errors import InputError
from msw_audio.records import FAMILY_ROLES, ROLES

DEFAULT_CODEBOOK = Path(__file__).resolve().parent / "codebooks" / "codebook.yaml"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ANNOMI = re.compile(r"^[a-z_]+(/[a-z_]*)?$")
#: Group names a code may belong to, and what reads each one.
GROUPS = {
    "question": "MITI questions (reflection-to-question ratio, MITI summary)",
    "open_question": "open questions (% open questions)",
    "reflection": "MITI reflections (R:Q ratio, rate_reflection, MITI summary)",
    "complex_reflection": "complex reflections (% complex reflections)",
    "mi_adherent": "MITI MI-adherent behaviour (rate_mi_adherent, MITI summary)",
    "mi_non_adherent": "MITI MI-non-adherent behaviour (rate_mi_non_adherent, MITI summary)",
    "good_practice": "offered in the exemplar library when confirmed",
    "softens_sustain_talk": "a good answer to sustain talk (softening_sustain_talk)",
    "hardens_sustain_talk": "a poor answer to sustain talk (softening_sustain_talk)",
    "change_talk": "family change talk (MITI summary, change-talk share)",
    "sustain_talk": "family sustain talk (MITI summary, change-talk share)",
}
#: Tagger head classes a practitioner code can train (AnnoMI's 6-way task); ``input`` codes
#: without cue rules are also classes of the input-subtype head.
TAGGER_CLASSES = ("open_question", "closed_question", "simple_reflection",
                  "complex_reflection", "input", "other")
#: Shorthands allowed in a code's ``roles`` list.
ROLE_GROUPS = {"family": FAMILY_ROLES, "all": ROLES}


@dataclass(frozen=True)
class Code:
    id: str
    label: str
    description: str
    example: str
    hotkey: str
    colour: str
    roles: tuple[str, ...]
    #: What the code counts as (keys of ``GROUPS``), in the YAML's order.
    groups: tuple[str, ...] = ()
    #: AnnoMI labels read as this code: ``behaviour/subtype`` or ``client/talk_type``.
    annomi: tuple[str, ...] = ()
    #: The tagger head class its examples train (practitioner codes; default ``other``).
    tagger: str = "other"
    #: Regular expressions that suggest the code (a hint where no model label exists).
    cues: tuple[str, ...] = ()
    #: Why the cues suggest it (shown beside a cue suggestion).
    cue_why: str = ""


@dataclass(frozen=True)
class Codebook:
    name: str
    version: str
    codes: list[Code] = field(default_factory=list)
    path: Path | None = None
    #: The scoring rubric this codebook's sessions get besides the principles ("" none,
    #: "supervision": ``scoring.supervision``).
    rubric: str = ""
    #: When set, every speaker but the lead one is suggested this role (supervision: the
    #: supervisee is "other"), instead of the parent / child guess of a family visit.
    family_role: str = ""
    #: What the roles mean in this codebook's sessions (supervision: practitioner ->
    #: "supervisor", other -> "practitioner (supervisee)"); shown beside the role.
    role_labels: dict[str, str] = field(default_factory=dict)

    def role_label(self, role: str) -> str:
        return self.role_labels.get(role, role)

    def for_role(self, role: str) -> list[Code]:
        """Codes that apply to a speaker of this role, in codebook order."""
        return [c for c in self.codes if role in c.roles]

    def get(self, code_id: str) -> Code | None:
        return next((c for c in self.codes if c.id == code_id), None)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.codes]

    @property
    def practitioner_codes(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.for_role("practitioner"))

    @property
    def family_codes(self) -> tuple[str, ...]:
        """Codes for any family-member role (parent, child, other), in codebook order."""
        return tuple(c.id for c in self.codes if set(c.roles) & set(FAMILY_ROLES))

    @property
    def ref(self) -> str:
        """``name@version``, what session.json and the tagger metadata record."""
        return f"{self.name}@{self.version}"

    def group(self, name: str) -> tuple[str, ...]:
        """Code ids in group ``name`` (codebook order); empty for a group nobody is in."""
        return tuple(c.id for c in self.codes if name in c.groups)

    def label(self, code_id: str | None) -> str:
        """The code's label; an unknown id reads as itself with spaces."""
        code = self.get(code_id) if code_id else None
        return code.label if code else (code_id or "").replace("_", " ")

    def annomi_map(self) -> dict[tuple[str, str], str]:
        """``(behaviour, subtype) -> code id`` for every AnnoMI label some code reads."""
        out: dict[tuple[str, str], str] = {}
        for c in self.codes:
            for label in c.annomi:
                behaviour, _, subtype = label.partition("/")
                out[(behaviour, subtype)] = c.id
        return out

    def tagger_class(self, code_id: str) -> str:
        """The 6-way tagger class a practitioner code's examples train."""
        code = self.get(code_id)
        return code.tagger if code else "other"

    def input_subtypes(self) -> tuple[str, ...]:
        """Classes of the input-subtype head: ``tagger: input`` codes without cue rules."""
        return tuple(sorted(c.id for c in self.codes if c.tagger == "input" and not c.cues))

    def cue_codes(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.codes if c.cues)

    def to_record(self) -> dict[str, str]:
        """What a session records about the codebook that coded it (session.json, store)."""
        return {"name": self.name, "version": self.version,
                "path": str(self.path) if self.path else ""}


def _expand_roles(raw: object, where: str) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise InputError(f"{where}: 'roles' must be a non-empty list of roles")
    roles: list[str] = []
    for item in items:
        expanded = ROLE_GROUPS.get(str(item), (str(item),))
        for role in expanded:
            if role not in ROLES:
                raise InputError(
                    f"{where}: unknown role {item!r} (use {', '.join(ROLES)}, family or all)"
                )
            if role not in roles:
                roles.append(role)
    return tuple(roles)


def _str_list(raw: object, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
        raise InputError(f"{where} must be a list of strings")
    return tuple(items)


#: Recording types that are coded with a shipped codebook other than the default.
RECORDING_TYPE_CODEBOOKS = {"supervision": "codebook_supervision.yaml"}


def codebook_for_recording_type(recording_type: str | None) -> Path | None:
    """The shipped codebook a recording type is coded with (None: the default one)."""
    name = RECORDING_TYPE_CODEBOOKS.get((recording_type or "").strip().lower())
    return DEFAULT_CODEBOOK.parent / name if name else None


def shipped_codebooks() -> list[Path]:
    """The codebook files that ship with the package (``coding/codebooks/*.yaml``)."""
    return sorted(DEFAULT_CODEBOOK.parent.glob("*.yaml"))


def resolve_codebook(record: dict[str, Any] | None) -> Codebook:
    """The codebook a session records (``Codebook.to_record``), for reading it back.

    Why: a session coded with a second codebook must open with *its* codes and hotkeys. The
    recorded path is used when it still holds that name and version; otherwise a shipped
    codebook of that name; a session that records none (older ones) gets the default.
    """
    if not record:
        return load_codebook()
    name = record.get("name")
    recorded = Path(record["path"]) if record.get("path") else None
    for path in ([recorded] if recorded and recorded.is_file() else []) + shipped_codebooks():
        book = load_codebook(path)
        if book.name == name:
            return book
    raise InputError(f"the codebook {name}@{record.get('version')} that coded this session is "
                     f"not available (recorded path: {record.get('path') or 'none'})")


def load_codebook(path: Path | None = None) -> Codebook:
    """Read and validate a codebook YAML (default: ``msw_audio/coding/codebooks/codebook.yaml``)."""
    path = Path(path) if path else DEFAULT_CODEBOOK
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"codebook {path} not found") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"codebook {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("codes"), list):
        raise InputError(f"codebook {path}: expected a mapping with a 'codes' list")
    for key in ("name", "version"):
        if not data.get(key):
            raise InputError(f"codebook {path}: missing '{key}'")
    codes: list[Code] = []
    seen_ids: set[str] = set()
    seen_keys: dict[tuple[str, str], str] = {}
    for i, entry in enumerate(data["codes"]):
        where = f"codebook {path}: code #{i + 1}"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a mapping")
        missing = [k for k in ("id", "label", "description", "hotkey", "colour", "roles")
                   if not entry.get(k)]
        if missing:
            raise InputError(f"{where} ({entry.get('id', '?')}): missing {', '.join(missing)}")
        code_id = str(entry["id"])
        if not _ID.match(code_id):
            raise InputError(f"{where}: id {code_id!r} must be snake_case")
        if code_id in seen_ids:
            raise InputError(f"{where}: duplicate id {code_id!r}")
        if not _COLOUR.match(str(entry["colour"])):
            raise InputError(f"{where} ({code_id}): colour must look like #1f77b4")
        hotkey = str(entry["hotkey"])
        if len(hotkey) != 1:
            raise InputError(f"{where} ({code_id}): hotkey must be one character")
        roles = _expand_roles(entry["roles"], f"{where} ({code_id})")
        groups, annomi, cues = (_str_list(entry.get(k), f"{where} ({code_id}): {k}")
                                for k in ("groups", "annomi", "cues"))
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise InputError(f"{where} ({code_id}): unknown group(s) {', '.join(unknown)} "
                             f"(use {', '.join(GROUPS)})")
        bad = [a for a in annomi if not _ANNOMI.match(a)]
        if bad:
            raise InputError(f"{where} ({code_id}): annomi labels look like "
                             f"question/open or client/change, not {', '.join(bad)}")
        tagger = str(entry.get("tagger", "other"))
        if tagger not in TAGGER_CLASSES:
            raise InputError(f"{where} ({code_id}): tagger must be one of "
                             f"{', '.join(TAGGER_CLASSES)}")
        for pattern in cues:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InputError(f"{where} ({code_id}): cue {pattern!r}: {exc}") from exc
        for role in roles:  # one hotkey may serve two codes only for different speakers
            other = seen_keys.get((role, hotkey))
            if other:
                raise InputError(
                    f"{where} ({code_id}): hotkey {hotkey!r} already used by {other} for {role}"
                )
            seen_keys[(role, hotkey)] = code_id
        seen_ids.add(code_id)
        codes.append(Code(code_id, str(entry["label"]), str(entry["description"]).strip(),
                          str(entry.get("example", "")).strip(), hotkey, str(entry["colour"]),
                          roles, groups, annomi, tagger, cues,
                          str(entry.get("cue_why", "")).strip()))
    family_role = str(data.get("family_role") or "")
    if family_role and family_role not in FAMILY_ROLES:
        raise InputError(f"codebook {path}: family_role must be one of {', '.join(FAMILY_ROLES)}")
    labels = data.get("role_labels") or {}
    if not isinstance(labels, dict) or not set(labels) <= set(ROLES):
        raise InputError(f"codebook {path}: role_labels maps roles ({', '.join(ROLES)}) to names")
    rubric = str(data.get("rubric") or "")
    if rubric not in ("", "supervision"):
        raise InputError(f"codebook {path}: rubric must be 'supervision' or absent")
    return Codebook(name=str(data["name"]), version=str(data["version"]), codes=codes, path=path,
                    rubric=rubric, family_role=family_role,
                    role_labels={str(k): str(v) for k, v in labels.items()})
