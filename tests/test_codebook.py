"""The codebook file is the single source of codes; a second codebook needs no code change."""

from pathlib import Path

import pytest

from msw_audio.coding.codebook import load_codebook
from msw_audio.errors import InputError

PRACTITIONER = [
    "open_question", "closed_question", "simple_reflection", "complex_reflection",
    "giving_information", "persuade", "persuade_with_permission", "seeking_collaboration",
    "affirm", "emphasising_autonomy", "confront", "other",
]
FAMILY = ["change_talk", "sustain_talk", "neutral"]


def test_default_codebook_has_the_agreed_ids():
    book = load_codebook()
    assert book.version and book.name
    assert [c.id for c in book.for_role("practitioner")] == PRACTITIONER
    for role in ("parent", "child", "other"):
        assert sorted(c.id for c in book.for_role(role)) == sorted(FAMILY)
    code = book.get("complex_reflection")
    assert code and code.label and code.description and code.example
    assert code.colour.startswith("#") and len(code.hotkey) == 1
    assert book.get("nope") is None


def test_second_codebook_loads_without_code_changes():
    path = (Path(__file__).resolve().parents[1] / "msw_audio" / "coding" / "codebooks"
            / "codebook_supervision.yaml")
    book = load_codebook(path)
    assert book.name == "msw-supervision"
    assert "directive" in [c.id for c in book.for_role("practitioner")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("name: x\nversion: '1'\ncodes: []\n", None),
        ("name: x\ncodes: []\n", "missing 'version'"),
        ("- just a list\n", "expected a mapping"),
        ("name: x\nversion: '1'\ncodes:\n  - {id: Bad-Id, label: a, description: d, hotkey: a,"
         " colour: '#000000', roles: [practitioner]}\n", "snake_case"),
        ("name: x\nversion: '1'\ncodes:\n  - {id: a, label: a, description: d, hotkey: a,"
         " colour: red, roles: [practitioner]}\n", "colour"),
        ("name: x\nversion: '1'\ncodes:\n  - {id: a, label: a, description: d, hotkey: a,"
         " colour: '#000000', roles: [teacher]}\n", "unknown role"),
        ("name: x\nversion: '1'\ncodes:\n  - {id: a, label: a, description: d, hotkey: a,"
         " colour: '#000000', roles: [all]}\n  - {id: b, label: b, description: d, hotkey: a,"
         " colour: '#000000', roles: [child]}\n", "hotkey 'a' already used"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_codebooks_are_refused_clearly(tmp_path, body, message):
    path = tmp_path / "book.yaml"
    path.write_text(body)
    if message is None:
        assert load_codebook(path).codes == []
        return
    with pytest.raises(InputError, match=message):
        load_codebook(path)


def test_missing_codebook_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_codebook(tmp_path / "none.yaml")
