"""Each login's own screen keys (``review.keymap``): stored per login, conflicts refused."""

from __future__ import annotations

import pytest

from msw_audio.errors import InputError
from msw_audio.review.keymap import ACTIONS
from tests.conftest_app import PASSWORD


def _keys(store, name):
    return {a["id"]: a["key"] for a in store.key_map(store.get_user(name))["actions"]}


def test_defaults_remap_conflicts_and_reset(store):
    store.add_user("eva", "evaluator", PASSWORD)
    store.add_user("cora", "coach", PASSWORD)
    eva = store.get_user("eva")
    assert _keys(store, "eva") == {a: k for a, (k, _l) in ACTIONS.items()}
    store.set_key_map(eva, {"next": "n", "split": "X"})
    assert _keys(store, "eva")["next"] == "n" and _keys(store, "eva")["split"] == "X"
    assert _keys(store, "cora")["next"] == "j"  # per login
    for keys, why in (({"loop": "q"}, "codebook's key"), ({"loop": "k"}, "two things"),
                      ({"play": "Escape"}, "keeps its own meaning"),
                      ({"play": "Ctrl+K"}, "not a single key"), ({"fly": "f"}, "unknown")):
        with pytest.raises(InputError, match=why):
            store.set_key_map(eva, keys)
    assert _keys(store, "eva")["next"] == "n"  # a refused change saves nothing
    # moving an action onto a key another action gives up at the same time is fine
    store.set_key_map(eva, {"next": "k", "previous": "j"})
    assert (_keys(store, "eva")["next"], _keys(store, "eva")["previous"]) == ("k", "j")
    store.set_key_map(eva, {})
    assert _keys(store, "eva")["next"] == "j"
