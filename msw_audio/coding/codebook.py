"""The codebook: the single source of behaviour codes (id, label, description, example, hotkey,
colour, which speaker roles it applies to).

Why a data file: evaluators and researchers change codes (a supervision codebook, a new colour)
without touching code. Every code id is snake_case and is what session.json, the store and the
training files use. ``load_codebook`` validates the file and raises ``InputError`` with the
offending entry, so a typo never reaches the review screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from msw_audio.errors import InputError
from msw_audio.records import FAMILY_ROLES, ROLES

DEFAULT_CODEBOOK = Path(__file__).resolve().parent / "codebooks" / "codebook.yaml"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
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


@dataclass(frozen=True)
class Codebook:
    name: str
    version: str
    codes: list[Code] = field(default_factory=list)
    path: Path | None = None

    def for_role(self, role: str) -> list[Code]:
        """Codes that apply to a speaker of this role, in codebook order."""
        return [c for c in self.codes if role in c.roles]

    def get(self, code_id: str) -> Code | None:
        return next((c for c in self.codes if c.id == code_id), None)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.codes]


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
                          roles))
    return Codebook(name=str(data["name"]), version=str(data["version"]), codes=codes, path=path)
