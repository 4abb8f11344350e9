"""``msw-audio serve`` and ``msw-audio demo``: start the review screen.

``demo`` is the README's main job in one command: it processes the bundled fictional home
visit (``msw_audio/demo/demo.ogg``) with the real pipeline, ingests it, creates one login
per role with a fresh random password printed once, and serves the app on loopback.
"""

from __future__ import annotations

import argparse
import os
import secrets
from datetime import date
from pathlib import Path

from msw_audio.review.auth import system_user

DEMO_AUDIO = Path(__file__).resolve().parents[1] / "demo" / "demo.ogg"
DEMO_USERS = ("evaluator", "coach", "researcher", "practitioner", "admin")
DEMO_META = {
    "title": "Demo home visit (fictional)",
    "worker": "Sam Practitioner",
    "team": "Demo team",
    "family": "Family D",
    "recording_type": "home visit",
}


def _data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="data folder (store + recordings); default: a per-user data folder",
    )
    p.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    p.add_argument(
        "--secure-cookie",
        action="store_true",
        help="send the login cookie over HTTPS only (use behind an HTTPS reverse proxy)",
    )
    p.add_argument(
        "--idle-minutes", type=float, default=None, metavar="N",
        help="end a login left untouched this long (default 30; the 12 h limit stays)",
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the review screen (login required)")
    _data_arg(p)
    p.add_argument(
        "--codebook",
        type=Path,
        default=None,
        metavar="FILE.yaml",
        help="codebook for new sessions and the screen's code lists (default: the shipped "
        "one); a session keeps the codebook that coded it",
    )
    p.add_argument(
        "--no-worker",
        action="store_true",
        help="do not process queued recordings in this process",
    )
    from msw_audio.cli.store import engine_args

    engine_args(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "demo", help="process the bundled demo recording, create demo logins and serve"
    )
    _data_arg(p)
    p.set_defaults(func=cmd_demo, data=None)
    for action in p._actions:  # the demo's own folder, never the production default
        if action.dest == "data":
            action.help = ("the demo's data folder (default: $MSW_AUDIO_DEMO_DATA or "
                           "~/.local/share/msw-audio-demo; never a real store's)")


def _open(data: Path | None, codebook: Path | None = None):
    from msw_audio.coding.codebook import load_codebook
    from msw_audio.review.store import Store

    return Store.open(data, codebook=load_codebook(codebook.resolve()) if codebook else None)


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from msw_audio.web.server import serve

    store = _open(args.data, getattr(args, "codebook", None))
    runner = None
    # the upload handler submits through jobs.submit, which reads these settings
    for flag, env in (("engine", "MSW_AUDIO_ENGINE"), ("broker", "MSW_AUDIO_BROKER"),
                      ("queue", "MSW_AUDIO_QUEUE")):
        if getattr(args, flag, None):
            os.environ[env] = getattr(args, flag)
    if os.environ.get("MSW_AUDIO_ENGINE", "local") != "local":
        args.no_worker = True  # Celery workers process the uploads
    if not getattr(args, "no_worker", False):
        from msw_audio.jobs.queue import start_background_worker

        runner = start_background_worker(store)
    print(f"data folder: {store.data_dir}")
    try:
        serve(store, host=args.host, port=args.port, secure_cookie=args.secure_cookie,
              idle_minutes=args.idle_minutes)
    finally:
        if runner is not None:
            runner.stop()
        store.close()
    return 0


def prepare_demo(store, log=print) -> tuple[str, str]:  # noqa: ANN001
    """Process + ingest the demo recording (once) and reset the demo logins.

    Returns ``(session_id, password)``. Processing is cached by the pipeline, so a second
    ``msw-audio demo`` starts in seconds.
    """
    from msw_audio.pipeline import process_recording
    from msw_audio.speech.audio import sha256_file

    admin = system_user("demo")
    session_id = store.session_for_hash(sha256_file(DEMO_AUDIO))
    if session_id is None:
        out_dir = store.paths.cache / "demo-output"
        log(f"processing the demo recording {DEMO_AUDIO.name} (first run only, a few minutes)...")

        def progress(stage: str, fraction: float) -> None:
            log(f"  {stage:<12} {round(100 * fraction):3d}%")

        process_recording(DEMO_AUDIO, out_dir, progress=progress)
        meta = dict(DEMO_META, date=date.today().isoformat())
        session_id = store.ingest(out_dir, actor=admin, meta=meta, audio_path=DEMO_AUDIO)
    password = secrets.token_urlsafe(9)
    for name in DEMO_USERS:
        if store.get_user(name) is None:
            store.add_user(name, name, password, worker=DEMO_META["worker"])
        else:
            store.set_password(name, password, actor=admin)
    return session_id, password


def demo_data_dir() -> Path:
    """Where ``msw-audio demo`` keeps its store: its own folder beside (never inside or
    equal to) the production default, so demo logins can never exist in a real store."""
    env = os.environ.get("MSW_AUDIO_DEMO_DATA")
    if env:
        return Path(env).expanduser()
    from msw_audio.review.paths import default_data_dir

    real = default_data_dir()
    return real.with_name(real.name + "-demo")


def open_demo_store(data: Path | None):  # noqa: ANN201 - a review.store.Store
    """The demo's store; refuses a folder that holds any login other than the demo's."""
    from msw_audio.errors import InputError
    from msw_audio.review.paths import default_data_dir

    folder = Path(data) if data else demo_data_dir()
    if folder.expanduser().resolve() == default_data_dir().expanduser().resolve():
        raise InputError(f"{folder} is the production data folder: the demo uses its own "
                         "(leave out --data)")
    store = _open(folder)
    others = [u.name for u in store.list_users(system_user("demo"))
              if u.name not in DEMO_USERS]
    if others:
        store.close()
        raise InputError(f"{folder} holds real logins ({', '.join(others[:3])}): the demo "
                         "runs only in a folder of its own")
    return store


def cmd_demo(args: argparse.Namespace) -> int:
    from msw_audio.web.server import serve

    store = open_demo_store(args.data)
    session_id, password = prepare_demo(store)
    # uploads made in the demo are processed here (a demo has no separate worker)
    runner = start_demo_worker(store)
    url = f"http://{args.host}:{args.port}/ui/?session={session_id}"
    print()
    print(f"demo session {session_id} is ready; data folder: {store.data_dir}")
    print(f"open {url}")
    print(f"sign in as one of: {', '.join(DEMO_USERS)}   password: {password}")
    print("(new password each run; the logins are the roles' names)")
    print()
    try:
        serve(store, host=args.host, port=args.port, secure_cookie=args.secure_cookie,
              idle_minutes=args.idle_minutes)
    finally:
        if runner is not None:
            runner.stop()
        store.close()
    return 0


def start_demo_worker(store, processor=None):  # noqa: ANN001, ANN201 - Store, Processor
    """The in-process worker ``demo`` runs (None when another engine is configured)."""
    import os

    if os.environ.get("MSW_AUDIO_ENGINE", "local") != "local":
        return None
    from msw_audio.jobs.queue import start_background_worker

    return start_background_worker(store, processor=processor)
