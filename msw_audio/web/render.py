"""HTML of the review screen, rendered on the server from library records.

Why server-rendered HTML: a 1,000-utterance transcript must open in well under two seconds,
and one escaped string per view is both fast and easy to test without a browser. The
browser side (``review.js``) only adds behaviour — click-to-seek, hotkeys, saving through
the JSON routes of ``msw_audio.web.server`` — reading everything it needs from ``data-``
attributes, so a re-render never leaves stale JavaScript state behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from msw_audio.coding.codebook import Codebook, load_codebook
from msw_audio.records import FAMILY_ROLES, PRINCIPLES, ROLES, Session

PRINCIPLE_LABELS = {
    "evocation": "Evocation",
    "empathy": "Empathy",
    "purposefulness": "Purposefulness",
    "autonomy": "Autonomy",
    "collaboration": "Collaboration",
    "child_focus": "Child focus",
    "clarity_about_concerns": "Clarity about concerns",
}
#: Below this model probability a suggestion is marked "check me".
LOW_CONFIDENCE = 0.6
#: Keys the screen keeps for navigation and listening; a codebook hotkey on one of these is
#: ignored (``review.js`` handles them first).
RESERVED_KEYS = frozenset(
    {"j", "k", "l", " ", "Enter", "Escape", "Backspace", "Delete", "ArrowUp", "ArrowDown",
     "ArrowLeft", "ArrowRight", "[", "]", "/"}
)
#: Playback speeds of the speed buttons and of the ``[`` / ``]`` keys.
SPEEDS = (0.75, 1.0, 1.25, 1.5, 2.0)
#: Seconds ``←`` (and the replay button) goes back, and ``→`` forward.
REPLAY_SECONDS = 5
SCORE_STEPS = tuple(x / 2 for x in range(2, 11))  # 1.0 .. 5.0 in halves

@dataclass
class CodeView:
    id: str
    label: str
    hotkey: str
    colour: str
    description: str = ""


@dataclass
class CodebookView:
    """What the screen needs from the codebook: labels, colours and hotkeys per group.

    Groups are ``practitioner`` and ``client`` (any family role), because a hotkey means a
    different code depending on who is speaking.
    """

    groups: dict[str, list[CodeView]] = field(default_factory=dict)
    version: str = ""
    name: str = ""
    #: what the roles mean in this codebook's sessions (supervision: practitioner -> supervisor)
    role_labels: dict[str, str] = field(default_factory=dict)

    def label(self, code: str | None) -> str:
        if not code:
            return ""
        for codes in self.groups.values():
            for c in codes:
                if c.id == code:
                    return c.label
        return code.replace("_", " ").capitalize()

    def colour(self, code: str | None) -> str:
        for codes in self.groups.values():
            for c in codes:
                if c.id == code:
                    return c.colour
        return "#6b7280"

    def all_codes(self) -> list[CodeView]:
        return [c for codes in self.groups.values() for c in codes]

    def hotkeys(self) -> dict[str, dict[str, str]]:
        return {
            g: {c.hotkey: c.id for c in codes if c.hotkey and c.hotkey not in RESERVED_KEYS}
            for g, codes in self.groups.items()
        }


def group_of(role: str) -> str:
    return "client" if role in FAMILY_ROLES else "practitioner"


def codebook_view(book: Codebook) -> CodebookView:
    """A codebook as the screen shows it: practitioner and family-member codes with hotkeys."""
    groups: dict[str, list[CodeView]] = {"practitioner": [], "client": []}
    family = {c.id: c for role in FAMILY_ROLES for c in book.for_role(role)}
    for group, codes in (("practitioner", book.for_role("practitioner")),
                         ("client", [c for c in book.codes if c.id in family])):
        for c in codes:
            groups[group].append(CodeView(id=c.id, label=c.label or c.id, hotkey=c.hotkey,
                                          colour=c.colour or "#6b7280",
                                          description=c.description or ""))
    return CodebookView(groups=groups, version=book.version, name=book.name,
                        role_labels=dict(book.role_labels))


def load_codebook_view(path: Path | None = None) -> CodebookView:
    """The codebook at ``path`` (default: the shipped one) as the screen shows it."""
    return codebook_view(load_codebook(path))


# ---------------------------------------------------------------------------- helpers
def clock(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a time in seconds."""
    if seconds is None:
        return ""
    s = int(max(0.0, seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _attr(value: Any) -> str:
    return escape(str(value), quote=True)


def _json_attr(value: Any) -> str:
    return escape(json.dumps(value, separators=(",", ":")), quote=True)


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return escape(str(value))


@dataclass
class Row:
    """One transcript line with the model's view and the evaluator's decision kept apart."""

    index: int
    uid: str
    start: float
    end: float
    speaker: str
    role: str
    text: str
    suggested: str | None
    probability: float | None
    confirmed: str | None
    alternatives: list[tuple[str, float]]
    flag: str = ""  # why a correction asks for another look at this line


def transcript_rows(session: Session, decisions: dict[str, Any]) -> list[Row]:
    """Rows with the model's top suggestion separated from the confirmed code.

    ``Store.get_session`` puts a confirmed code first in ``codes``; the model's own top
    suggestion comes from ``get_decisions`` so the screen can show both.
    """
    confirmed = decisions.get("codes", {})
    flags = decisions.get("flags", {})
    roles = {s.id: s.role for s in session.speakers}
    rows = []
    for i, u in enumerate(session.utterances):
        model = [c for c in u.codes if c.source != "evaluator"]
        dec = confirmed.get(u.id)
        code = dec["code"] if dec else None
        suggested = dec.get("suggested") if dec else (model[0].code if model else None)
        prob = next((c.probability for c in model if c.code == suggested), None)
        if prob is None and dec:  # accepted: the model's probability is kept in the decision
            prob = dec.get("suggested_probability")
        rows.append(
            Row(
                index=i,
                uid=u.id,
                start=u.start,
                end=u.end,
                speaker=u.speaker,
                role=roles.get(u.speaker, "other"),
                text=u.text,
                suggested=suggested,
                probability=prob,
                confirmed=code,
                alternatives=[(c.code, c.probability) for c in model[:3]],
                flag=flags.get(u.id, ""),
            )
        )
    return rows


def order_rows(rows: list[Row], order: str) -> list[Row]:
    """``time`` (default) or ``confidence``: least confident suggestions first."""
    if order == "confidence":
        return sorted(
            rows,
            key=lambda r: (
                r.confirmed is not None,
                r.probability if r.probability is not None else 1.0,
                r.index,
            ),
        )
    return rows


# ---------------------------------------------------------------------------- review view
def _code_chip(book: CodebookView, code: str | None, extra: str = "") -> str:
    if not code:
        return ""
    return (
        f'<span class="msw-chip" style="--chip:{_attr(book.colour(code))}" data-code="'
        f'{_attr(code)}">'
        f"{escape(book.label(code))}{extra}</span>"
    )


#: Two lines of different speakers that share at least this much time (s) overlap.
OVERLAP_MIN_S = 0.05


def overlapping(rows: list[Row]) -> dict[str, list[Row]]:
    """For each line, the other speakers' lines it overlaps in time (overlapping talk)."""
    out: dict[str, list[Row]] = {}
    by_start = sorted(rows, key=lambda r: (r.start, r.end))
    for i, a in enumerate(by_start):
        for b in by_start[i + 1:]:
            if b.start >= a.end - OVERLAP_MIN_S:
                break
            if b.speaker != a.speaker and min(a.end, b.end) - b.start >= OVERLAP_MIN_S:
                out.setdefault(a.uid, []).append(b)
                out.setdefault(b.uid, []).append(a)
    return out


def _overlap_html(r: Row, others: list[Row], speaker_names: dict[str, str]) -> str:
    """Overlapping talk as ELAN's tiers show it: this line and the ones spoken at the same
    time, side by side, one lane per speaker, each with its span."""
    if not others:
        return ""
    lanes = [r, *sorted(others, key=lambda o: (o.speaker, o.start))]
    cells = "".join(
        f'<div class="msw-lane{" msw-lane-self" if x is r else ""}" data-lane-uid="{_attr(x.uid)}"'
        f' title="{_attr(x.text)}">'
        f'<b>{escape(speaker_names.get(x.speaker, x.speaker))}</b> '
        f'<span class="msw-muted">{clock(x.start)}–{clock(x.end)}</span> {escape(x.text)}</div>'
        for x in lanes)
    return f'<div class="msw-lanes" aria-label="Spoken at the same time">{cells}</div>'


def _row_html(book: CodebookView, r: Row, speaker_names: dict[str, str],
              others: list[Row] | None = None) -> str:
    low = r.confirmed is None and r.probability is not None and r.probability < LOW_CONFIDENCE
    classes = ["msw-utt"]
    if low:
        classes.append("msw-low")
    if r.confirmed:
        classes.append("msw-done")
    if r.flag:
        classes.append("msw-flagged")
    if others:
        classes.append("msw-overlap")
    overlap = _overlap_html(r, others or [], speaker_names)
    badge = ('<span class="msw-overlap-badge" title="Spoken while '
             + _attr(", ".join(sorted({speaker_names.get(o.speaker, o.speaker) for o in others})))
             + ' also spoke">overlap</span>') if others else ""
    flag = (f'<span class="msw-flag" title="{_attr(r.flag)}" aria-label="{_attr(r.flag)}">⚑'
            "</span> " if r.flag else "")
    conf = "" if r.probability is None else f"{round(100 * r.probability)}%"
    alts = " · ".join(f"{book.label(c)} {round(100 * p)}%" for c, p in r.alternatives[1:])
    title = f' title="Also: {_attr(alts)}"' if alts else ""
    return (
        f'<div class="{" ".join(classes)}" data-uid="{_attr(r.uid)}" data-start="{r.start:.3f}" '
        f'data-end="{r.end:.3f}" data-speaker="{_attr(r.speaker)}" data-role="{_attr(r.role)}" '
        f'data-group="{group_of(r.role)}" '
        f'data-suggested="{_attr(r.suggested or "")}" data-seen="{_attr(r.confirmed or "")}">'
        f'<div class="msw-time">{clock(r.start)}</div>'
        f'<div class="msw-spk"><span class="msw-role msw-role-{_attr(r.role)}">'
        f"{escape(r.role)}</span>"
        f'<span class="msw-spk-id">{escape(speaker_names.get(r.speaker, r.speaker))}</span>'
        f"{badge}</div>"
        f'<div class="msw-text">{flag}<span class="msw-words">{escape(r.text)}</span></div>'
        f'<div class="msw-sugg"{title}>{_code_chip(book, r.suggested)}'
        f'<span class="msw-conf{" msw-conf-low" if low else ""}">{conf}</span></div>'
        f'<div class="msw-final">{_code_chip(book, r.confirmed)}</div>'
        f"{overlap}</div>"
    )


def _keys_html(book: CodebookView, editable: bool, can_listen: bool) -> str:
    """The keys panel: the codebook's hotkeys (for editors) and the screen's own keys."""
    parts = []
    if editable:
        for group, title in (("practitioner", "Practitioner lines"), ("client", "Family lines")):
            keys = "".join(
                f'<li><kbd>{escape(c.hotkey)}</kbd> {escape(c.label)}</li>'
                for c in book.groups.get(group, [])
                if c.hotkey and c.hotkey not in RESERVED_KEYS
            )
            parts.append(f'<h5>{title}</h5><ul class="msw-keys">{keys}</ul>')
    nav = [("j / ↓", "next line (↓ when the transcript has the focus)"),
           ("k / ↑", "previous line"), ("/", "search the transcript")]
    if can_listen:
        nav += [("space", "play the line from its start / pause"), ("Esc", "stop"),
                ("←", f"back {REPLAY_SECONDS} s (replay)"), ("→", f"forward {REPLAY_SECONDS} s"),
                ("[ / ]", "slower / faster (" + " · ".join(f"{x:g}×" for x in SPEEDS) + ")"),
                ("l", "loop the selected line")]
    if editable:
        nav += [("Enter", "accept the suggested code"), ("⌫", "remove the confirmation"),
                ("Shift+T", "edit the line's text"), ("Shift+S", "split the line at a word"),
                ("Shift+M", "merge with the next line"),
                ("Shift+P", "give the line to another speaker"),
                ("Shift+U", "undo the last correction")]
    rows = "".join(f"<li><kbd>{escape(k)}</kbd> {escape(v)}</li>" for k, v in nav)
    parts.append(f'<h5>Screen</h5><ul class="msw-keys msw-keys-nav">{rows}</ul>'
                 '<p class="msw-muted">These are the defaults: <b>Keys</b> in the header lets '
                 "you choose your own (kept for your login).</p>")
    note = (
        '<p class="msw-muted">A code key means the code for whoever speaks in the selected '
        "line; a practitioner key on a family member's line (or the other way round) is "
        "refused with a note.</p>"
        if editable
        else ""
    )
    return f'<section class="msw-panel msw-legend">{"".join(parts)}{note}</section>'


def _speakers_html(session: Session, decisions: dict[str, Any], editable: bool,
                   labels: dict[str, str] | None = None) -> str:
    confirmed = decisions.get("roles", {})
    labels = labels or {}
    items = []
    for s in session.speakers:
        mark = " ✓" if s.id in confirmed else f" ({round(100 * s.role_confidence)}% sure)"
        if editable:
            opts = "".join(
                f'<option value="{r}"{" selected" if r == s.role else ""}>'
                f'{escape(labels.get(r, r))}</option>'
                for r in ROLES
            )
            ctrl = f'<select class="msw-role-select" data-speaker="{_attr(s.id)}">{opts}</select>'
        else:
            ctrl = (f'<span class="msw-role msw-role-{_attr(s.role)}">'
                    f'{escape(labels.get(s.role, s.role))}</span>')
        items.append(
            f'<li><span class="msw-spk-id">{escape(s.id)}</span> {ctrl}'
            f'<span class="msw-muted">{mark} · {clock(s.talk_time)} talk</span></li>'
        )
    resplit = (
        '<div class="msw-resplit" role="group" aria-label="Re-split speakers">'
        '<b>Re-split speakers</b> <span class="msw-muted">people present:</span> '
        '<label>exact <input class="msw-resplit-num" type="number" min="1" max="20" '
        'size="2"></label> <span class="msw-muted">or</span> '
        '<label>min <input class="msw-resplit-min" type="number" min="1" max="20" size="2">'
        '</label> <label>max <input class="msw-resplit-max" type="number" min="1" max="20" '
        'size="2"></label> <button class="msw-resplit-go">Re-split</button></div>'
        if editable else ""
    )
    return (
        '<section class="msw-panel"><h4>Speakers</h4>'
        f'<ul class="msw-speakers">{"".join(items)}</ul>{resplit}</section>'
    )


def _not_scored(title: str) -> str:
    return (
        f'<section class="msw-panel"><h4>{title}</h4><p class="msw-muted">Not scored.</p></section>'
    )


MITI_FIELDS = (
    ("reflection_to_question", "Reflection : question"),
    ("pct_complex_reflection", "% complex reflections"),
    ("pct_open_question", "% open questions"),
    ("mi_adherent", "MI-adherent"),
    ("mi_non_adherent", "MI-non-adherent"),
    ("change_talk", "Change talk"),
    ("sustain_talk", "Sustain talk"),
    ("practitioner_talk_share", "Practitioner talk share"),
    ("technical_global", "Technical global (estimate)"),
    ("relational_global", "Relational global (estimate)"),
)


def miti_html(miti: dict[str, Any] | None) -> str:
    """The MITI panel: each figure with its numeric fair/good thresholds and rating, and a
    footnote saying how many coded lines are confirmed (figures are recomputed on each
    decision, so with every line confirmed they are plain MITI counts)."""
    if not miti:
        return _not_scored("MITI summary")
    ratings = miti.get("ratings") or {}
    thresholds = miti.get("thresholds") or {}
    confirmed = miti.get("confirmed") or {}
    rows = []
    for key, label in MITI_FIELDS:
        if key not in miti:
            continue
        rate = ratings.get(key)
        badge = (
            f' <span class="msw-rate msw-rate-{_attr(str(rate).replace(" ", "-"))}">'
            f"{escape(str(rate))}</span>"
            if rate
            else ""
        )
        limits = thresholds.get(key) or {}
        rule = (
            f'<span class="msw-muted"> fair ≥ {_num(limits.get("fair"))}, '
            f'good ≥ {_num(limits.get("good"))}</span>'
            if limits
            else ""
        )
        mine = (
            f'<span class="msw-muted"> ({int(confirmed[key])} confirmed)</span>'
            if key in confirmed
            else ""
        )
        rows.append(
            f"<tr><td>{escape(label)}</td><td>{_num(miti.get(key))}{badge}{mine}{rule}</td></tr>"
        )
    if "utterances_coded" in miti:
        done, coded = int(miti.get("utterances_confirmed") or 0), int(miti["utterances_coded"])
        note = (
            f"All {coded} coded lines confirmed: these are MITI counts."
            if coded and done == coded
            else f"{done} of {coded} coded lines confirmed; the rest count as suggestions "
            "(their probabilities), so figures may still move."
        )
    else:
        note = "Counts from the suggestions made at processing time."
    return (
        '<section class="msw-panel"><h4>MITI summary</h4>'
        f'<table class="msw-kv">{"".join(rows)}</table>'
        f'<p class="msw-muted msw-miti-note">{escape(note)}</p>'
        "</section>"
    )


def _score_options(selected: float | None) -> str:
    return "".join(
        f'<option value="{v:g}"'
        f"{' selected' if selected is not None and abs(v - selected) < 1e-6 else ''}>{v:g}</option>"
        for v in SCORE_STEPS
    )


def principles_html(scores: dict[str, Any] | None, editable: bool) -> str:
    principles = (scores or {}).get("principles") or {}
    if not principles:
        return _not_scored("Principle scores")
    cards = []
    for name in PRINCIPLES:
        p = principles.get(name)
        if not p:
            continue
        suggested = p.get("value")
        confirmed = p.get("confirmed")
        conf = p.get("confidence")
        evidence = "".join(
            f'<li class="msw-evidence" data-start="{float(e.get("start", 0)):.3f}" '
            f'data-uid="{_attr(e.get("utterance_id", ""))}" title="{_attr(e.get("why", ""))}">'
            f'<span class="msw-time">▶ {clock(e.get("start"))}</span> '
            f"{escape(str(e.get('text', ''))[:140])}</li>"
            for e in (p.get("evidence") or [])[:5]
        )
        reasons = "".join(f"<li>{escape(str(x))}</li>" for x in (p.get("reasons") or [])[:4])
        state = (
            f'<span class="msw-confirmed">confirmed {_num(confirmed)}</span>'
            if confirmed is not None
            else '<span class="msw-muted">not confirmed</span>'
        )
        if editable:
            control = (
                '<div class="msw-score-edit"><select class="msw-score-value" aria-label="'
                f'{_attr(name)} score">'
                f"{_score_options(confirmed if confirmed is not None else suggested)}</select>"
                '<input class="msw-score-note" placeholder="Note (why)" value="'
                f'{_attr(p.get("note") or "")}">'
                f'<button class="msw-score-confirm" data-principle="{_attr(name)}">'
                "Confirm</button></div>"
            )
        else:
            note = p.get("note")
            control = f'<div class="msw-muted">{escape(note)}</div>' if note else ""
        cards.append(
            f'<div class="msw-principle" data-principle="{_attr(name)}">'
            f'<div class="msw-principle-head"><b>{escape(PRINCIPLE_LABELS.get(name, name))}</b>'
            f'<span class="msw-score">{_num(suggested)}</span>'
            '<span class="msw-muted">suggested · '
            f"{'' if conf is None else f'{round(100 * conf)}% sure'}</span>"
            f'<span class="msw-score-state">{state}</span></div>'
            f'{control}<ul class="msw-evidence-list">{evidence}</ul>'
            f"{f'<details><summary>Why</summary><ul>{reasons}</ul></details>' if reasons else ''}"
            "</div>"
        )
    return f'<section class="msw-panel"><h4>Principle scores (1–5)</h4>{"".join(cards)}</section>'


def _player_html(session_id: str, session: Session) -> str:
    """Player, listening tools and the waveform (``review.js`` draws it with wavesurfer.js).

    Why ``controlslist="nodownload"`` and no context menu (``review.js``): recordings play in
    the app only; the server still decides who may hear them (``/media`` checks the grant).
    """
    speeds = "".join(
        f'<button type="button" class="msw-speed{" msw-on" if x == 1.0 else ""}" '
        f'data-rate="{x:g}" aria-pressed="{"true" if x == 1.0 else "false"}" '
        f'title="Play at {x:g}× ([ slower, ] faster)">{x:g}×</button>'
        for x in SPEEDS
    )
    return (
        '<div class="msw-listen">'
        '<audio class="msw-audio" controls controlslist="nodownload noplaybackrate" '
        f'preload="metadata" src="/media/{_attr(session_id)}"></audio>'
        f'<span class="msw-speeds" role="group" aria-label="Playback speed">{speeds}</span>'
        f'<button type="button" class="msw-replay" title="Back {REPLAY_SECONDS} s and play (←)">'
        f"↺ {REPLAY_SECONDS} s</button>"
        '<button type="button" class="msw-loop" aria-pressed="false" '
        'title="Loop the selected line (l)">⟲ Loop line</button>'
        '<label class="msw-follow" title="Scroll the transcript to the line being heard">'
        '<input type="checkbox" class="msw-follow-box" checked> Follow</label>'
        '<span class="msw-zoom" role="group" aria-label="Waveform zoom">'
        '<button type="button" class="msw-zoom-out" title="Show more of the recording">−</button>'
        '<button type="button" class="msw-zoom-in" title="Zoom in on the waveform">+</button>'
        "</span>"
        '<button type="button" class="msw-spectrogram-toggle" aria-pressed="false" '
        'title="Show a spectrogram under the waveform (computed on the server)">'
        "Spectrogram</button></div>"
        f'<div class="msw-wave" data-peaks="/media/{_attr(session_id)}/peaks" '
        f'data-spectrogram="/media/{_attr(session_id)}/spectrogram" '
        f'data-duration="{float(session.audio.duration or 0):.3f}">'
        '<div class="msw-wave-main" aria-label="Waveform: click to play from there"></div>'
        '<div class="msw-wave-map" aria-label="Whole recording: click to go there"></div>'
        '<span class="msw-wave-note msw-muted">Drawing the waveform…</span></div>'
    )


def _side_html(
    session: Session, decisions: dict[str, Any], book: CodebookView, *, editable: bool,
    can_listen: bool,
) -> str:
    """Speakers on top, then tabs (keys, principle scores, MITI) instead of one long scroll."""
    tabs = (
        ("keys", "Keys", _keys_html(book, editable, can_listen)),
        ("scores", "Principle scores", principles_html(session.scores, editable)),
        ("miti", "MITI", miti_html((session.scores or {}).get("miti"))),
    )
    first = "keys" if editable else "scores"
    buttons = "".join(
        f'<button type="button" role="tab" class="msw-tab" data-tab="{key}" '
        f'aria-selected="{"true" if key == first else "false"}">{label}</button>'
        for key, label, _ in tabs
    )
    panels = "".join(
        f'<div class="msw-tabpanel" role="tabpanel" data-tab="{key}"'
        f'{"" if key == first else " hidden"}>{html}</div>'
        for key, _, html in tabs
    )
    return (
        '<aside class="msw-side">'
        f"{_speakers_html(session, decisions, editable, book.role_labels)}"
        f'<div class="msw-tabs" role="tablist">{buttons}</div>{panels}</aside>'
    )


def review_html(
    session_id: str,
    session: Session,
    decisions: dict[str, Any],
    meta: dict[str, Any],
    book: CodebookView,
    *,
    editable: bool,
    can_listen: bool,
    order: str = "time",
    threshold: float = 0.9,
) -> str:
    """The whole review pane for one session: a header that stays in view (progress, save
    state, player, waveform, search), the transcript, and the side panel.

    ``threshold``: the default of "accept ≥ T %" (``review.by_exception.default_threshold``).
    """
    from msw_audio.web.render_review_tools import review_tools_html

    rows = transcript_rows(session, decisions)
    n_done = sum(1 for r in rows if r.confirmed)
    speaker_names = {s.id: s.id for s in session.speakers}
    over = overlapping(rows)
    body = "".join(_row_html(book, r, speaker_names, over.get(r.uid))
                   for r in order_rows(rows, order))
    status = decisions.get("status", meta.get("status", ""))
    if can_listen:
        player = _player_html(session_id, session)
    else:
        player = '<div class="msw-noaudio">Audio is not available to your role.</div>'
    reviewed_btn = review_tools_html(editable=editable, status=status,
                                     n_open=len(rows) - n_done, threshold=threshold)
    sid = _attr(session_id)
    if editable and status != "reviewed":  # transcript corrections (a reviewed one is read-only)
        reviewed_btn += (
            '<button class="msw-undo-correction" title="Undo the last transcript correction '
            '(Shift+U)">Undo correction</button>'
        )
    if editable:  # the corrected session as STM / RTTM / ELAN / Praat
        reviewed_btn += (
            f'<a class="msw-download" href="/export/sessions/{sid}/transcript.stm">STM</a>'
            f'<a class="msw-download" href="/export/sessions/{sid}/transcript.rttm">RTTM</a>'
            f'<a class="msw-download" href="/export/sessions/{sid}/transcript.eaf" '
            'title="ELAN: a tier per speaker and its codes">EAF</a>'
            f'<a class="msw-download" href="/export/sessions/{sid}/transcript.TextGrid" '
            'title="Praat: a tier per speaker and its codes">TextGrid</a>'
        )
        if status != "reviewed":  # review_interchange.js: upload, preview, apply
            reviewed_btn += ('<button class="msw-import-btn" title="Import an .eaf / .TextGrid '
                             'you exported and edited in ELAN or Praat">Import…</button>')
    reviewed_btn += ('<button class="msw-keys-btn" title="Choose your own keys for this '
                     'screen">Keys</button>')
    info = " · ".join(
        escape(str(x))
        for x in (
            meta.get("worker"),
            meta.get("team"),
            meta.get("date"),
            meta.get("recording_type"),
        )
        if x
    )
    return (
        f'<div class="msw-review msw-scope" data-session="{_attr(session_id)}" '
        f'data-editable="{"1" if editable else "0"}" '
        f'data-readonly="{"1" if status == "reviewed" else "0"}" '
        f'data-hotkeys="{_json_attr(book.hotkeys())}" '
        f'data-labels="{_json_attr({c.id: c.label for c in book.all_codes()})}" '
        f'data-colours="{_json_attr({c.id: c.colour for c in book.all_codes()})}" '
        f'data-speakers="{_json_attr([s.id for s in session.speakers])}">'
        '<div class="msw-toolbar">'
        '<div class="msw-head">'
        f'<div class="msw-title"><b>{escape(meta.get("title") or session_id)}</b> <span class="'
        f'msw-muted">{info}</span></div>'
        f'<span class="msw-status msw-status-{_attr(status)}">'
        f"{escape(status.replace('_', ' '))}</span>"
        f'<span class="msw-progress"><span class="msw-ndone">{n_done}</span>/'
        f'<span class="msw-ntotal">{len(rows)}</span> confirmed</span>'
        f"{reviewed_btn}"
        '<span class="msw-searchbox"><input type="search" class="msw-search" '
        'placeholder="Search text, code, speaker, /regex/  ( / )" '
        'aria-label="Search the transcript">'
        '<button type="button" class="msw-search-all" title="Search every session you may '
        'see; each hit opens its session at that line (Shift+Enter)">All sessions</button>'
        '<span class="msw-search-count msw-muted" aria-live="polite"></span>'
        '<div class="msw-search-results" hidden></div></span>'
        '<span class="msw-toast" role="status" aria-live="polite"></span>'
        "</div>"
        f"{player}"
        "</div>"
        '<div class="msw-body">'
        '<div class="msw-transcript" tabindex="0" role="list" aria-label="Transcript">'
        '<div class="msw-thead"><div>Time</div><div>Speaker</div><div>Utterance</div>'
        "<div>Suggested</div><div>Confirmed</div></div>"
        f"{body}"
        '<div class="msw-nomatch msw-muted" hidden>No line matches the search.</div></div>'
        f"{_side_html(session, decisions, book, editable=editable, can_listen=can_listen)}"
        "</div></div>"
    )


def review_mount_html(session_id: str, order: str = "time") -> str:
    """A placeholder the browser fills from ``/fragment/review/<id>``.

    Why: Gradio's HTML component re-processes its whole value in the browser; fetching the
    (large) transcript directly and inserting it once is what keeps a 1,000-utterance
    session under two seconds.
    """
    return (
        f'<div class="msw-review-mount" data-session="{_attr(session_id)}" data-order="'
        f'{_attr(order)}">'
        '<div class="msw-muted msw-empty">Loading transcript…</div></div>'
    )


def url_mount_html(placeholder: str) -> str:
    """The review pane's first content: ``review.js`` fills it at once from the page's
    ``?session=`` (else shows ``placeholder``).

    Why: waiting for Gradio's load event to hand over the session id costs ~0.7 s of a
    cold page load; the transcript and the waveform are fetched while Gradio starts.
    """
    return (
        f'<div class="msw-review-mount msw-url-mount" data-order="time">{placeholder}</div>'
    )


# ---------------------------------------------------------------------------- coach view
def exemplars_html(items: list[dict[str, Any]], book: CodebookView, can_listen: bool) -> str:
    """Exemplar cards, each playing its clip at its timestamp with the talk around it."""
    if not items:
        return (
            '<div class="msw-muted msw-empty">No confirmed examples match these filters yet. '
            "Examples appear here once evaluators confirm codes and principle scores.</div>"
        )
    cards = []
    for i, ex in enumerate(items):
        ctx = "".join(
            f'<li class="msw-ctx{" msw-ctx-main" if c.get("is_exemplar") else ""}" '
            f'data-start="{float(c["start"]):.3f}" data-end="{float(c["end"]):.3f}">'
            f'<span class="msw-time">{clock(c["start"])}</span> '
            f'<span class="msw-role msw-role-{_attr(c.get("role", "other"))}">'
            f"{escape(c.get('role', ''))}</span> "
            f"{escape(c.get('text', ''))} {_code_chip(book, c.get('code'))}</li>"
            for c in ex.get("context", [])
        )
        media = f' data-media="/media/{_attr(ex["session_id"])}"' if can_listen else ""
        play = (
            f'<button class="msw-play-clip" data-start="{float(ex["start"]):.3f}" data-end="'
            f'{float(ex["end"]):.3f}">▶ Play clip</button>'
            if can_listen
            else ""
        )
        what = _code_chip(book, ex.get("code"))
        if ex.get("principle"):
            what += (
                ' <span class="msw-chip msw-chip-principle">'
                f"{escape(PRINCIPLE_LABELS.get(ex['principle'], ex['principle']))}"
                f" {_num(ex.get('score'))}</span>"
            )
        who = " · ".join(
            escape(str(x)) for x in (ex.get("worker"), ex.get("team"), ex.get("date")) if x
        )
        cards.append(
            f'<div class="msw-exemplar msw-scope"{media}><div class="msw-ex-head"><b>#{i + 1}</b>'
            f" {what} "
            f'<span class="msw-muted">{escape(ex.get("title") or "")} · {who} · '
            f"{clock(ex.get('start'))}</span> {play}</div>"
            f'<ul class="msw-context">{ctx}</ul></div>'
        )
    player = (
        '<audio class="msw-audio msw-clip-audio" controls controlslist="nodownload" '
        'preload="none"></audio>'
        if can_listen
        else ""
    )
    return f'<div class="msw-exemplars msw-scope msw-clip-scope">{player}{"".join(cards)}</div>'


def shortlist_markdown(items: list[dict[str, Any]], book: CodebookView) -> str:
    """A coaching-conversation handout: each example with its context, no audio."""
    lines = ["# Coaching shortlist", "", "Examples of good practice confirmed by evaluators.", ""]
    for i, ex in enumerate(items, 1):
        what = book.label(ex.get("code")) if ex.get("code") else ""
        if ex.get("principle"):
            name = PRINCIPLE_LABELS.get(ex["principle"], ex["principle"])
            what = f"{what} {name} {ex.get('score') or ''}".strip()
        lines.append(
            f"## {i}. {what} — {ex.get('title', '')} ({ex.get('date') or 'no date'}, "
            f"{clock(ex.get('start'))})"
        )
        lines.append("")
        for c in ex.get("context", []):
            mark = "**" if c.get("is_exemplar") else ""
            lines.append(
                f"- {clock(c['start'])} *{c.get('role', '')}*: {mark}{c.get('text', '')}{mark}"
            )
        if ex.get("note"):
            lines.append(f"\n  Evaluator note: {ex['note']}")
        lines.append("")
    lines.append(
        "Prompts: What made this work? Where else could it help? What would you try next time?"
    )
    return "\n".join(lines) + "\n"
