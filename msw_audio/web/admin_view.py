"""What the Admin tab shows: users and audit tables, erasure reports, worker status.

Pure functions of store results (no store calls, no permission logic): the Admin tab's
handlers (``web.tab_admin``) fetch through ``Store`` methods that check the signed-in
admin, then render with these. Kept apart so the tab module holds only layout and wiring.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from msw_audio.jobs.worker_status import WorkerStatus
from msw_audio.review.auth import User
from msw_audio.review.erasure import ErasureReport

USER_COLUMNS = ["Name", "Role", "Teams", "Grants", "Worker name", "State"]
AUDIT_COLUMNS = ["at", "user", "action", "target_type", "target_id"]


def users_frame(users: list[User]) -> pd.DataFrame:
    """One row per login; never a password or hash (``User`` carries neither)."""
    rows = [
        [u.name, u.role, ", ".join(sorted(u.teams)), ", ".join(sorted(u.grants)),
         u.worker, "active" if u.active else "disabled"]
        for u in users
    ]
    return pd.DataFrame(rows, columns=USER_COLUMNS)


def audit_frame(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """The audit log without its detail column (old/new values stay in the store)."""
    return pd.DataFrame([{k: e[k] for k in AUDIT_COLUMNS} for e in entries],
                        columns=AUDIT_COLUMNS)


def parse_teams(text: str) -> tuple[str, ...]:
    """``"North, South"`` -> ``("North", "South")``; ``*`` means every team."""
    return tuple(t.strip() for t in re.split(r"[,;\n]", text or "") if t.strip())


def user_summary(user: User) -> str:
    """One Markdown line about the chosen login (what the change controls act on)."""
    teams = "every team" if "*" in user.teams else ", ".join(sorted(user.teams))
    grants = ", ".join(sorted(user.grants)) or "none"
    state = "active" if user.active else "**disabled**"
    return (f"**{user.name}** — {user.role}, {state}; sees {teams}; extra grants: {grants}"
            + (f"; worker name {user.worker}" if user.worker else ""))


def erasure_markdown(report: ErasureReport) -> str:
    """What ``erase_session`` removed and whether its trace check came back clean."""
    jobs = len(report.job_ids)
    lines = [f"✓ Session `{report.session_id}` erased: database rows, recording, "
             f"{jobs} job{'s' if jobs != 1 else ''}, {len(report.removed)} file"
             f"{'s' if len(report.removed) != 1 else ''} removed (uploads, caches, handouts). "
             "The audit log keeps who erased which id and when, no content."]
    if not report.checkpointed:
        lines.append("⚠ A reader kept the database log open: erase again later or restart "
                     "the server to finish compacting.")
    if report.traces:
        lines.append("⚠ Traces left: " + "; ".join(report.traces))
    else:
        lines.append("Trace check: no trace of the session (family pseudonym, a transcript "
                     "phrase, the audio hash) is left in the database files or data folder.")
    return "\n\n".join(lines)


def worker_markdown(status: WorkerStatus) -> str:
    """The processing queue as an admin needs it: the no-worker banner, else the counts."""
    if status.no_worker:
        return status.banner
    if status.running_live:
        return (f"✓ A worker is processing: {status.running_live} job"
                f"{'s' if status.running_live != 1 else ''} running, {status.queued} queued.")
    if status.queued:
        return (f"{status.queued} recording{'s' if status.queued != 1 else ''} queued "
                f"{status.oldest_queued_seconds:.0f} s ago, waiting for a worker to claim it.")
    return ("✓ The queue is empty: nothing waits for processing (an idle worker cannot be "
            "seen until a recording is queued).")


def retention_markdown(days: str | None) -> str:
    if days is None:
        return ("Retention: **not set** — sessions are kept until erased. Set the days below; "
                "`msw-audio retention` (e.g. nightly from cron) then erases older sessions.")
    return (f"Retention: **{days} days** — `msw-audio retention` (e.g. nightly from cron) "
            f"erases sessions whose visit date is more than {days} days ago.")
