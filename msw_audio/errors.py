"""Errors a user can act on. The CLI prints them as one line, without a traceback."""

from __future__ import annotations


class MswError(Exception):
    """Base class for expected, user-facing failures."""

    exit_code = 1


class AudioError(MswError):
    """The recording cannot be used (missing, empty, not audio, corrupt, silent, too long...)."""

    exit_code = 2


class ModelNotFoundError(MswError):
    """A model's weights are not on this machine; the message says which package to install."""

    exit_code = 3


class InputError(MswError):
    """A data file (CSV, JSON, codebook...) is malformed; the message says what is wrong."""

    exit_code = 2


class PermissionDenied(MswError):
    """The current user's role does not allow this action."""

    exit_code = 4


class StaleEdit(MswError):
    """Someone else changed this line since the reviewer's view was drawn (no lost update):
    ``current`` is what it holds now, ``by``/``at`` who set it and when."""

    exit_code = 5

    def __init__(self, message: str, current: str | None, by: str | None, at: str | None):
        super().__init__(message)
        self.current, self.by, self.at = current, by, at


class ReadOnlySession(MswError):
    """The session is marked reviewed: it refuses changes until an evaluator reopens it."""

    exit_code = 5


class UnconfirmedLines(MswError):
    """"Mark reviewed" with lines nobody confirmed: ``count`` of them; asked again with
    ``allow_unconfirmed`` it goes through (the screen asks the evaluator first)."""

    exit_code = 5

    def __init__(self, message: str, count: int):
        super().__init__(message)
        self.count = count
