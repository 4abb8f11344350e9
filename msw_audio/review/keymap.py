"""Each login's own keys for the review screen's actions (playback, moving, accepting,
corrections), kept in the store.

Why on the server: a coder moves between machines and browsers; keys kept in one browser's
storage would change under their fingers. Only the keys that differ from the default are
stored (``store_settings``, one row per login), so a default changed in a later version
reaches everyone who did not choose their own. Refused with a message: two actions on one
key, a key that is one of the codebook's code hotkeys (those come from the codebook YAML,
per code), a key the screen keeps fixed (``FIXED_KEYS``), and anything that is not a single
key (``ev.key`` as the browser names it: a character, an upper-case letter for Shift+letter,
or one of ``NAMED_KEYS``). ``review.js`` (``keymap*`` functions) translates the login's
keys to the actions; defaults are unchanged for a login that sets nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from msw_audio.errors import InputError
from msw_audio.review.auth import User
from msw_audio.review.core import StoreCore
from msw_audio.review.db import StoreSetting

#: The screen's remappable actions, in the order the settings panel lists them:
#: id -> (default key as ``KeyboardEvent.key``, what it does). Upper-case letters are
#: Shift+letter. Keep in step with the key handler in ``web/review.js``.
ACTIONS: dict[str, tuple[str, str]] = {
    "next": ("j", "Next line"),
    "previous": ("k", "Previous line"),
    "search": ("/", "Search the transcript"),
    "play": (" ", "Play the selected line / pause"),
    "back": ("ArrowLeft", "Back 5 s"),
    "forward": ("ArrowRight", "Forward 5 s"),
    "slower": ("[", "Slower"),
    "faster": ("]", "Faster"),
    "loop": ("l", "Loop the line"),
    "accept": ("Enter", "Accept the suggestion"),
    "clear": ("Backspace", "Clear the code"),
    "edit_text": ("T", "Edit the text (Shift+T)"),
    "split": ("S", "Split at a word (Shift+S)"),
    "merge": ("M", "Merge with the next line (Shift+M)"),
    "speaker": ("P", "Give to another speaker (Shift+P)"),
    "undo_correction": ("U", "Undo the last correction (Shift+U)"),
}
#: Keys that keep their meaning whatever a login chooses: Escape stops and closes, Tab
#: moves the focus, ↑/↓ move the line inside the transcript, Delete clears.
FIXED_KEYS = frozenset({"Escape", "Tab", "ArrowUp", "ArrowDown", "Delete"})
#: Named keys (besides single characters) an action may be given.
NAMED_KEYS = frozenset({"Enter", "Backspace", "ArrowLeft", "ArrowRight", "Home", "End",
                        "PageUp", "PageDown", "Insert", *(f"F{n}" for n in range(1, 13))})


def _setting_key(name: str) -> str:
    """The ``store_settings`` key of a login's keys (a hash: names may be long)."""
    return "keys:" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]


def describe(key: str) -> str:
    """How the panel shows a key: ``Shift+T``, ``Space``, ``ArrowLeft``, ``j``."""
    if key == " ":
        return "Space"
    if len(key) == 1 and key.isalpha() and key.isupper():
        return f"Shift+{key}"
    return key


class KeyMaps(StoreCore):
    """``key_map`` / ``set_key_map``: a login's own screen keys."""

    def _code_hotkeys(self) -> set[str]:
        return {c.hotkey for c in self.codebook.codes if c.hotkey}

    def key_map(self, user: User) -> dict[str, Any]:
        """The actions with their default and the login's key; ``code_keys``: the codebook's
        hotkeys (taken)."""
        with self.rtx() as s:
            row = s.get(StoreSetting, _setting_key(user.name))
            chosen = json.loads(row.value) if row is not None and row.value else {}
        return {"actions": [{"id": a, "label": label, "default": key,
                             "key": chosen.get(a, key), "shown": describe(chosen.get(a, key))}
                            for a, (key, label) in ACTIONS.items()],
                "code_keys": sorted(self._code_hotkeys()), "fixed": sorted(FIXED_KEYS)}

    def set_key_map(self, user: User, keys: dict[str, Any]) -> dict[str, Any]:
        """Save the login's keys (``{action: key}``; an action left out keeps its default;
        ``{}`` puts every default back). Refused as a whole, with the reason, on any
        conflict; audited (which actions changed, not the keys)."""
        if not isinstance(keys, dict):
            raise InputError("keys must be an object of action: key")
        unknown = sorted(set(keys) - set(ACTIONS))
        if unknown:
            raise InputError(f"unknown action(s) {', '.join(unknown)}; actions: "
                             f"{', '.join(ACTIONS)}")
        final = {a: d for a, (d, _label) in ACTIONS.items()}
        for action, key in keys.items():
            if isinstance(key, str) and key in FIXED_KEYS:
                raise InputError(f"{ACTIONS[action][1]}: {describe(key)} keeps its own meaning "
                                 "on the screen and cannot be given to an action")
            if not isinstance(key, str) or not key or (len(key) > 1 and key not in NAMED_KEYS):
                raise InputError(f"{ACTIONS[action][1]}: {key!r} is not a single key")
            final[action] = key
        codes = self._code_hotkeys()
        seen: dict[str, str] = {}
        for action, key in final.items():
            if key in codes:
                code = next(c.label for c in self.codebook.codes if c.hotkey == key)
                raise InputError(f"{ACTIONS[action][1]}: {describe(key)} is the codebook's key "
                                 f"for {code}; choose another")
            if key in seen:
                raise InputError(f"{describe(key)} would do two things: "
                                 f"{ACTIONS[seen[key]][1]} and {ACTIONS[action][1]}")
            seen[key] = action
        changed = {a: k for a, k in final.items() if k != ACTIONS[a][0]}
        with self.tx() as s:
            row = s.get(StoreSetting, _setting_key(user.name))
            value = json.dumps(changed, sort_keys=True)
            if row is None:
                s.add(StoreSetting(key=_setting_key(user.name), value=value))
            else:
                row.value = value
            self.audit(s, user, "settings.keys", "user", user.name,
                       changed=",".join(sorted(changed)))
        return self.key_map(user)
