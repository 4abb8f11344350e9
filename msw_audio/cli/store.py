"""``msw-audio`` commands for the store and the job queue.

user add/list/passwd/role/teams/disable/enable/grant/revoke, ingest, enqueue, jobs, worker, erase,
export, retention. Each takes ``--data DIR`` (default ``$MSW_AUDIO_DATA`` or
``~/.local/share/msw-audio``) and ``--db-url`` for PostgreSQL. The shell user who can read
the data folder can read everything in it, so CLI commands act as a local admin (audited as
``cli:<login>``); the app is where roles matter.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from msw_audio.errors import InputError
from msw_audio.review.auth import GRANTABLE, USER_ROLES, system_user


def _local_user():
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "local"
    return system_user(login)


def _open(args: argparse.Namespace):
    from msw_audio.coding.codebook import load_codebook
    from msw_audio.review.store import Store

    path = getattr(args, "codebook", None)
    return Store.open(args.data, url=args.db_url,
                      codebook=load_codebook(path.resolve()) if path else None)


def _common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="data folder (store + files); default $MSW_AUDIO_DATA or ~/.local/share/msw-audio",
    )
    p.add_argument(
        "--db-url",
        default=None,
        metavar="URL",
        help="database URL instead of SQLite in the data folder, "
        "e.g. postgresql+psycopg://user@host/msw (or env MSW_AUDIO_DB_URL)",
    )
    p.add_argument(
        "--codebook",
        type=Path,
        default=None,
        metavar="FILE.yaml",
        help="codebook for sessions processed here (default: the shipped one); an ingested "
        "session keeps the codebook recorded in its session.json",
    )
    return p


def engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine local|celery``, ``--broker``, ``--queue`` (also used by ``serve``)."""
    p.add_argument(
        "--engine",
        choices=("local", "celery"),
        default=None,
        help="job engine: local (the store's own queue, default) or celery "
        "(env MSW_AUDIO_ENGINE)",
    )
    p.add_argument(
        "--broker",
        default=None,
        metavar="URL",
        help="Celery broker, e.g. redis://HOST:6379/0 (env MSW_AUDIO_BROKER)",
    )
    p.add_argument(
        "--queue",
        default=None,
        metavar="NAME",
        help="Celery queue: cpu (default) or gpu (env MSW_AUDIO_QUEUE)",
    )


def _engine(args: argparse.Namespace) -> str:
    import os

    return args.engine or os.environ.get("MSW_AUDIO_ENGINE") or "local"


def _meta_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--worker", default="", help="practitioner's name or id")
    p.add_argument("--team", default="", help="team name")
    p.add_argument("--date", default="", help="date of the visit, YYYY-MM-DD")
    p.add_argument("--family", default="", help="family pseudonym (never a real name)")
    p.add_argument("--type", dest="recording_type", default="", help="recording type, e.g. visit")


def _people_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--people", default="", metavar="N|MIN-MAX",
                   help="people present: an exact number (3) or a range (2-4), passed to "
                        "diarization as the speaker count")


def _meta(args: argparse.Namespace) -> dict[str, str]:
    keys = ("worker", "team", "date", "family", "recording_type", "people")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None)}


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError("no terminal for a password prompt: pipe it in with --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise InputError("the two passwords differ")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    password = _read_password(args)
    with _open(args) as store:
        user = store.add_user(args.name, args.role, password, tuple(args.grant or ()),
                              teams=tuple(args.team or ("*",)), worker=args.worker,
                              actor=_local_user())
    extra = f" (+ {', '.join(sorted(user.grants))})" if user.grants else ""
    print(f"user {user.name!r} added with role {user.role}{extra}; {_teams_text(user)}")
    return 0


def _teams_text(user) -> str:  # noqa: ANN001 - a review.auth.User
    if user.all_teams:
        return "sees every team's sessions (scope with `user teams NAME --team T`)"
    return f"sees the sessions of: {', '.join(sorted(user.teams))}"


def cmd_user_teams(args: argparse.Namespace) -> int:
    with _open(args) as store:
        user = store.set_teams(args.name, tuple(args.team), _local_user())
    print(f"user {user.name!r} {_teams_text(user)}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        users = store.list_users(_local_user())
        if getattr(args, "json", False):  # for scripts: one array, no password material
            print(json.dumps([{"name": u.name, "role": u.role, "grants": sorted(u.grants),
                               "teams": sorted(u.teams), "worker": u.worker or None,
                               "active": u.active} for u in users], indent=2))
            return 0
        for u in users:
            extra = f" +{','.join(sorted(u.grants))}" if u.grants else ""
            off = "" if u.active else "\tdisabled"
            print(f"{u.name}\t{u.role}{extra}\tteams: {','.join(sorted(u.teams))}{off}")
    return 0


def cmd_user_role(args: argparse.Namespace) -> int:
    with _open(args) as store:
        user = store.set_user_role(args.name, args.role, _local_user())
    print(f"user {user.name!r} now has role {user.role}")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    """Set a new password; every login made with the old one ends at its next request."""
    password = _read_password(args)
    with _open(args) as store:
        store.set_password(args.name, password, actor=_local_user())
    print(f"password of {args.name!r} changed; their open logins are ended")
    return 0


def cmd_user_active(args: argparse.Namespace) -> int:
    active = args.user_command == "enable"
    with _open(args) as store:
        store.set_active(args.name, active, _local_user())
    print(f"user {args.name!r} {'enabled' if active else 'disabled (logged out at once)'}")
    return 0


def cmd_user_grant(args: argparse.Namespace) -> int:
    with _open(args) as store:
        if args.user_command == "grant":
            store.grant(args.name, args.permission, _local_user())
        else:
            store.revoke(args.name, args.permission, _local_user())
    verb = "granted to" if args.user_command == "grant" else "revoked from"
    print(f"{args.permission} {verb} {args.name!r}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    with _open(args) as store:
        sid = store.ingest(args.dir, actor=_local_user(), meta=_meta(args), audio_path=args.audio)
    print(f"session {sid}")
    return 0


def cmd_enqueue(args: argparse.Namespace) -> int:
    from msw_audio.jobs.queue import JobConfig, enqueue_many, submit

    config = JobConfig()
    if args.max_upload_mb:
        config.max_upload_bytes = int(args.max_upload_mb * 2**20)
    with _open(args) as store:
        results = enqueue_many(store, args.paths, _local_user(), _meta(args), config)
    for _path, job_id, _error in results:
        if job_id:
            submit(job_id, _engine(args), args.broker, args.queue)
    if not results:
        raise InputError("no recordings found in the given paths")
    failed = 0
    for path, job_id, error in results:
        if job_id:
            print(f"queued {job_id}  {path}")
        else:
            failed += 1
            print(f"refused {path}: {error}", file=sys.stderr)
    print(f"{len(results) - failed} queued, {failed} refused")
    return 1 if failed else 0


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s left"


def cmd_jobs(args: argparse.Namespace) -> int:
    from msw_audio.jobs.queue import list_jobs

    with _open(args) as store:
        jobs = list_jobs(store, _local_user(), limit=args.limit)
    if args.json:
        print(json.dumps([j.to_dict() for j in jobs], indent=1))
        return 0
    for j in jobs:
        detail = j.error or j.session_id or ""
        print(
            f"{j.id}  {j.state:<8} {j.stage[:24]:<24} {j.progress * 100:5.1f}%  "
            f"{_fmt_eta(j.eta_seconds):<14} {j.source_name}  {detail}"
        )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from msw_audio.jobs.queue import JobConfig, LocalRunner

    config = JobConfig()
    if args.threads:  # a setting of both model stages, recorded with each session
        from dataclasses import replace

        from msw_audio.pipeline import PipelineConfig

        base = PipelineConfig()
        config.pipeline_config = replace(
            base, transcribe=replace(base.transcribe, threads=args.threads),
            diarize=replace(base.diarize, threads=args.threads))
    if args.device or args.model:
        from dataclasses import replace

        from msw_audio.pipeline import PipelineConfig

        base = config.pipeline_config or PipelineConfig()
        asr = replace(base.transcribe, device=args.device or base.transcribe.device)
        asr = replace(asr, model=str(args.model) if args.model else asr.model)
        config.pipeline_config = replace(base, transcribe=asr)
    if _engine(args) == "celery":
        from msw_audio.jobs.engine_celery import queue_name, run_worker

        queues = tuple(q for q in queue_name(args.queue).split(",") if q)
        run_worker(args.data, args.db_url, args.broker, queues, config, args.sweep_seconds,
                   getattr(args, "codebook", None))
        return 0
    with _open(args) as store:
        runner = LocalRunner(store, config=config, log=lambda m: print(m, flush=True))
        try:
            n = runner.run(once=args.once)
        except KeyboardInterrupt:
            runner.stop()
            print("worker stopped; the running job resumes on the next start", file=sys.stderr)
            return 130
    print(f"{n} job(s) finished")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    given = [x for x in (args.session, getattr(args, "job", None), getattr(args, "family", None))
             if x]
    if len(given) != 1:
        raise InputError("give one of --session ID, --job ID or --family PSEUDONYM")
    with _open(args) as store:
        if args.family:
            counts = store.erase_family(args.family, _local_user())
            print(f"family {args.family!r} erased: {counts['sessions']} session(s), "
                  f"{counts['goals']} goal(s), {counts['ratings']} rating(s), "
                  f"{counts['feedback']} feedback")
            for trace in counts["traces"]:
                print(f"warning: trace left: {trace}", file=sys.stderr)
            return 0 if counts["checkpointed"] and not counts["traces"] else 1
        if args.session:
            report = store.erase_session(args.session, _local_user())
            print(f"session {args.session} erased (audio, transcript, decisions, uploads, "
                  f"jobs, caches, handouts)")
        else:
            report = store.erase_job(args.job, _local_user())
            print(f"job {args.job} erased (its recording, outputs and caches)")
    if not report.checkpointed:
        print("warning: a reader kept the database log open; run `msw-audio erase` again "
              "or restart the server to finish compacting", file=sys.stderr)
    for trace in report.traces:
        print(f"warning: trace left: {trace}", file=sys.stderr)
    return 0 if report.complete else 1


def cmd_export(args: argparse.Namespace) -> int:
    default = "confirmed-labels.csv" if args.what == "labels" else "confirmed-scores.jsonl"
    out = args.out or Path(default)
    with _open(args) as store:
        if args.what == "labels":
            n = store.export_labels(out, _local_user())
            print(f"{n} confirmed labels -> {out}")
        else:
            n = store.export_scores(out, _local_user())
            print(f"{n} sessions with confirmed scores -> {out}")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from msw_audio.jobs.queue import purge_jobs

    user = _local_user()
    with _open(args) as store:
        days = args.days
        if days is None:  # the store's setting (the Admin tab's "Retention days")
            stored = store.setting("retention_days")
            if stored is None:
                raise InputError("give --days N, or set the retention days in the Admin tab")
            days = int(stored)
        erased = store.erase_older_than(days, user)
        purged = purge_jobs(store, days, user)
        swept = store.sweep_orphans()
    print(
        f"{len(erased)} session(s) older than {days} days erased, {purged} finished "
        f"job(s) forgotten, {len(swept)} orphaned file(s) removed"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="manage logins")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    p = _common(user_sub.add_parser("add", help="add a login (password asked, never on argv)"))
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=USER_ROLES)
    p.add_argument("--grant", action="append", choices=sorted(GRANTABLE), help="extra permission")
    p.add_argument("--team", action="append", metavar="TEAM",
                   help="a team whose sessions this login sees (repeat; default: every team)")
    p.add_argument("--worker", default=None, metavar="NAME",
                   help="practitioner: the worker name on their sessions (default: the login)")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (one line)"
    )
    p.set_defaults(func=cmd_user_add)
    p = _common(user_sub.add_parser("list", help="list logins"))
    p.add_argument("--json", action="store_true", help="one JSON array (for scripts)")
    p.set_defaults(func=cmd_user_list)
    p = _common(user_sub.add_parser("teams", help="scope a login to teams ('*': every team)"))
    p.add_argument("name")
    p.add_argument("--team", action="append", required=True, metavar="TEAM")
    p.set_defaults(func=cmd_user_teams)
    p = _common(user_sub.add_parser("role", help="change a login's role"))
    p.add_argument("name")
    p.add_argument("role", choices=USER_ROLES)
    p.set_defaults(func=cmd_user_role)
    p = _common(user_sub.add_parser("passwd", aliases=["reset"],
                                    help="reset a password (ends their logins)"))
    p.add_argument("name")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (one line)"
    )
    p.set_defaults(func=cmd_user_passwd)
    for action, text in (("disable", "disable a login (ends it at once)"),
                         ("enable", "enable a disabled login")):
        p = _common(user_sub.add_parser(action, help=text))
        p.add_argument("name")
        p.set_defaults(func=cmd_user_active)
    for action, text in (("grant", "give an extra permission"),
                         ("revoke", "take an extra permission back")):
        p = _common(user_sub.add_parser(action, help=text))
        p.add_argument("name")
        p.add_argument("permission", choices=sorted(GRANTABLE))
        p.set_defaults(func=cmd_user_grant)

    p = _common(sub.add_parser("ingest", help="add a `msw-audio process` output folder"))
    p.add_argument("dir", type=Path)
    p.add_argument(
        "--audio", type=Path, default=None, help="recording (default: from session.json)"
    )
    _meta_args(p)
    p.set_defaults(func=cmd_ingest)

    p = _common(
        sub.add_parser("enqueue", help="queue recordings (files or folders) for processing")
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--max-upload-mb", type=float, default=None, help="size limit per file")
    engine_args(p)
    _meta_args(p)
    _people_arg(p)
    p.set_defaults(func=cmd_enqueue)

    p = _common(sub.add_parser("jobs", help="list processing jobs with stage and progress"))
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_jobs)

    p = _common(sub.add_parser("worker", help="process queued recordings"))
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per model stage (default: half the cores)")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default=None,
                   help="transcription device (a GPU worker: --device cuda --queue gpu)")
    p.add_argument("--model", default=None, metavar="NAME|DIR",
                   help="Whisper model: tiny.en (default), base or a local CTranslate2 folder")
    p.add_argument("--sweep-seconds", type=float, default=15.0,
                   help="celery: how often to re-publish jobs a dead worker or broker lost")
    engine_args(p)
    p.set_defaults(func=cmd_worker)

    p = _common(sub.add_parser("erase", help="erase a session, a job or a family completely "
                                             "(audited)"))
    p.add_argument("--session", metavar="ID")
    p.add_argument("--job", metavar="ID", help="a queued or running job with no session yet")
    p.add_argument("--family", metavar="PSEUDONYM",
                   help="its sessions, goals, ratings and feedback")
    p.set_defaults(func=cmd_erase)

    p = _common(sub.add_parser("export", help="export confirmed labels or scores for training"))
    p.add_argument("what", choices=("labels", "scores"))
    p.add_argument("--out", type=Path, default=None, metavar="PATH")
    p.set_defaults(func=cmd_export)

    p = _common(sub.add_parser("retention", help="erase sessions older than N days"))
    p.add_argument("--days", type=int, default=None,
                   help="default: the store's retention days (set in the Admin tab)")
    p.set_defaults(func=cmd_retention)
