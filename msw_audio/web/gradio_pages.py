"""Which login owns which Gradio page: a page's session hash bound to the first login
that used it.

Why: Gradio keys a page's state (``gr.State`` values, picker choices, queued messages) by
the random session hash the browser tab made up, not by the login. Any login that learnt
another's hash (a shared screen, a log, a browser extension) could join that page's queue,
read its event stream or end it (the heartbeat runs the page's unload). No handler trusts
that state for authority, so this is defence in depth: the guard (``gradio_guard``) asks
here before Gradio sees a hash, and a hash another login owns is refused.

The map lives on the guard (one per app, no module state), is bounded (per login and in
all), and forgets the pages of logins that ended — dropping Gradio's state for them too, so
a hash can never be claimed again with a page's old state behind it. A logout, a password
reset or a disabled user forgets them at once (``forget_login``, called by
``login.Sessions`` as the login ends); logins that end by idling or at the absolute expiry
announce nothing, so a periodic ``prune`` against the live logins catches those. Either way
the hash is then refused to every login for good (``ENDED``, bounded like the map): the old
tab of a user who signed in again is told to reload, and gets a fresh page.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Owner:
    """A login as a page owner: the user, and the login session (not its cookie)."""

    user_id: int | None
    login: str
    name: str = field(default="", compare=False)


#: What ``claim`` answers for a page whose login has ended: nobody may use it again (a
#: reload makes a new page), so a new login in the same tab is refused like another login.
ENDED = Owner(None, "ended", "(ended login)")


class PageOwners:
    """``key`` (``"h:<session hash>"``, ``"u:<upload id>"``) → the ``Owner`` that used it
    first.

    ``live``: the ids of the logins still live (``Sessions.live_ids``), asked at most every
    ``prune_every`` seconds (for logins that expired; ended ones come by ``forget_login``);
    ``dropped``: called with each key forgotten by pruning, ``forget_login`` or the bounds,
    outside the lock (the guard drops Gradio's state for it).
    """

    def __init__(self, live: Callable[[], set[str]] | None = None,
                 dropped: Callable[[str], None] | None = None, *, per_login: int = 256,
                 total: int = 20_000, prune_every: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._owners: OrderedDict[str, Owner] = OrderedDict()  # oldest claim first
        #: keys of ended logins (refused for good; at most ``total``, oldest forgotten)
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._by_login: dict[str, OrderedDict[str, None]] = {}
        self._lock = threading.Lock()
        self._live = live
        self._dropped = dropped
        self.per_login = per_login
        self.total = total
        self._prune_every = prune_every
        self._clock = clock
        self._pruned_at = clock()

    def __len__(self) -> int:
        return len(self._owners)

    def owner(self, key: str) -> Owner | None:
        return self._owners.get(key)

    def claim(self, key: str, owner: Owner) -> Owner | None:
        """Bind ``key`` to ``owner`` if nobody holds it; the other owner when another login
        does (the request must be refused), else None."""
        if self._clock() - self._pruned_at > self._prune_every:
            self.prune()
        evicted: list[str] = []
        with self._lock:
            if key in self._ended:
                return ENDED
            held = self._owners.get(key)
            if held is not None:
                return None if held == owner else held
            self._owners[key] = owner
            mine = self._by_login.setdefault(owner.login, OrderedDict())
            mine[key] = None
            while len(mine) > self.per_login:
                evicted.append(self._forget(next(iter(mine))))
            while len(self._owners) > self.total:
                evicted.append(self._forget(next(iter(self._owners))))
        self._notify(evicted)
        return None

    def forget(self, key: str) -> None:
        """Unbind ``key`` (its Gradio state is left as it is; anyone may claim it next)."""
        with self._lock:
            if key in self._owners:
                self._forget(key)

    def forget_login(self, login: str) -> list[str]:
        """Forget every key of login ``login`` now (it ended: logout, a password reset, a
        disabled user — ``Sessions.on_end``), dropping their Gradio state; the keys."""
        with self._lock:
            ended = [self._end(k) for k in list(self._by_login.get(login, ()))]
        self._notify(ended)
        return ended

    def prune(self) -> list[str]:
        """Forget every key of a login that is no longer live; the keys forgotten."""
        self._pruned_at = self._clock()
        if self._live is None:
            return []
        live = self._live()
        with self._lock:
            ended = [k for login, keys in self._by_login.items() if login not in live
                     for k in keys]
            for key in ended:
                self._end(key)
        self._notify(ended)
        return ended

    def is_ended(self, key: str) -> bool:
        """Whether ``key`` was a page of a login that has ended (refused for good)."""
        return key in self._ended

    def _end(self, key: str) -> str:
        """Forget ``key``'s owner and remember that its login ended (under the lock)."""
        self._forget(key)
        self._ended[key] = None
        while len(self._ended) > self.total:
            self._ended.popitem(last=False)
        return key

    def _forget(self, key: str) -> str:
        owner = self._owners.pop(key)
        mine = self._by_login.get(owner.login)
        if mine is not None:
            mine.pop(key, None)
            if not mine:
                del self._by_login[owner.login]
        return key

    def _notify(self, keys: list[str]) -> None:
        if self._dropped is not None:
            for key in keys:
                self._dropped(key)
