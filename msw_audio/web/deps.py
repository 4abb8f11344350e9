"""What every route shares: the logged-in user, CSRF check, and store errors as HTTP codes.

Who may do what is decided by the store (``Store`` raises ``PermissionDenied``), never by
the browser; routes only translate those errors into HTTP status codes (``_call``).
State-changing JSON routes require the ``X-MSW`` header, which a cross-site form cannot send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Body, HTTPException, Request

from msw_audio.errors import InputError, MswError, PermissionDenied, StaleEdit
from msw_audio.review.auth import User
from msw_audio.review.store import ANY_VALUE

COOKIE = "msw_session"
CSRF_HEADER = "x-msw"


def current_user(request: Request) -> User:
    user = getattr(request.state, "msw_user", None)
    if user is None:  # the gate lets only the login page through without one
        raise HTTPException(status_code=401, detail="login required")
    return user


#: A code route's optional ``expected``: the confirmed code the screen showed (null: none).
#: Omitted ("*"): the caller did not say, and the write is not checked (scripts, old pages).
_EXPECTED = Body("*", embed=True)


def _expected(value: str | None) -> Any:
    return ANY_VALUE if value == "*" else value


def _http_error(exc: MswError) -> HTTPException:
    if isinstance(exc, StaleEdit):  # the screen shows "changed by X at T" and offers both
        return HTTPException(status_code=409, detail={
            "message": str(exc), "current": exc.current, "by": exc.by, "at": exc.at})
    if isinstance(exc, PermissionDenied):
        return HTTPException(status_code=403, detail=str(exc))
    if isinstance(exc, InputError) and str(exc).startswith("no "):
        return HTTPException(status_code=404, detail=str(exc))
    return HTTPException(status_code=400, detail=str(exc))


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except MswError as exc:
        raise _http_error(exc) from None


def _check_csrf(request: Request) -> None:
    if request.headers.get(CSRF_HEADER) != "1":
        raise HTTPException(status_code=403, detail="missing X-MSW header")


def _safe_next(target: str | None) -> str:
    """Only same-site paths after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


