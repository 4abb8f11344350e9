"""Checking untrusted media in a child process with a time and memory limit.

Why: an uploaded file is decoded by FFmpeg (through PyAV) before it is accepted; a
decoder bug on a crafted file could crash, hang or exhaust the memory of the process that
runs it. Run inside the web server, that would take the review screen down for everyone.
So the check runs in a short-lived child (``python -m msw_audio.speech.sandbox``) under
``resource.setrlimit`` (address space and CPU seconds) and a wall-clock timeout; whatever
happens to the child becomes one ``AudioError`` naming the file.

Limits: ``MSW_AUDIO_DECODE_MEMORY_MB`` (default 3072) and ``MSW_AUDIO_DECODE_SECONDS``
(default 300, CPU and wall clock).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from msw_audio.errors import AudioError

DEFAULT_MEMORY_MB = 3072
DEFAULT_SECONDS = 300.0


def _limits(memory_mb: int, seconds: float):  # noqa: ANN202 - a preexec function
    def apply() -> None:
        import resource

        cap = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        cpu = max(1, int(seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file of family audio

    return apply


def check_media_isolated(
    path: str | Path,
    mode: str = "decode",
    max_duration: float | None = None,
    memory_mb: int | None = None,
    seconds: float | None = None,
    display: str | None = None,
) -> None:
    """Raise ``AudioError`` unless ``path`` opens (``mode="probe"``) or fully decodes
    (``"decode"``, the checks of ``speech.audio.load_audio``) in a limited child process."""
    memory_mb = memory_mb or int(os.environ.get("MSW_AUDIO_DECODE_MEMORY_MB", DEFAULT_MEMORY_MB))
    seconds = seconds or float(os.environ.get("MSW_AUDIO_DECODE_SECONDS", DEFAULT_SECONDS))
    name = display or Path(path).name
    cmd = [sys.executable, "-m", "msw_audio.speech.sandbox", mode, str(path)]
    if max_duration is not None:
        cmd += ["--max-duration", str(max_duration)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds,
                              preexec_fn=_limits(memory_mb, seconds), stdin=subprocess.DEVNULL,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    except subprocess.TimeoutExpired:
        raise AudioError(f"{name}: decoding took longer than {seconds:g} s; refused") from None
    if done.returncode == 0:
        return
    if done.returncode == 2:  # the child's own AudioError, already one line
        try:
            message = json.loads(done.stdout.strip().splitlines()[-1])["error"]
        except (ValueError, KeyError, IndexError):
            message = "not a readable recording"
        raise AudioError(message.replace(Path(path).name, name))
    how = (f"was stopped by signal {-done.returncode}" if done.returncode < 0
           else f"failed (exit {done.returncode})")
    raise AudioError(f"{name}: the decoder {how} within its limits of {memory_mb} MB and "
                     f"{seconds:g} s; the file is refused")


def _main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m msw_audio.speech.sandbox")
    ap.add_argument("mode", choices=("probe", "decode"))
    ap.add_argument("path")
    ap.add_argument("--max-duration", type=float, default=None)
    args = ap.parse_args(argv)
    from msw_audio.speech import audio

    try:
        if args.mode == "probe":
            audio.probe_audio_track(args.path)
        else:
            kwargs = {"max_duration": args.max_duration} if args.max_duration else {}
            audio.load_audio(args.path, **kwargs)
    except AudioError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
