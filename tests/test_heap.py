"""The worker's malloc settings (speech/heap.py), checked in a fresh interpreter each.

Why a child process: glibc's arena cap is process-wide and one-way, so the test must not
depend on (or change) what the test runner's own process already did.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    child_env.update(env, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code], env=child_env, check=True,
                          capture_output=True, text=True)


# Eight threads, each allocating: glibc gives each a new arena while under its cap, and
# malloc_stats() prints one "Arena N:" block per arena on stderr.
THREADS = """
import ctypes, threading
import numpy as np
from msw_audio.speech.heap import _libc
{setup}
barrier = threading.Barrier(8)
def work():
    barrier.wait()
    [np.ones(50_000) for _ in range(20)]
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
_libc().malloc_stats()
"""


def _arenas(setup: str, **env: str) -> int:
    err = _run(THREADS.format(setup=setup), **env).stderr
    return sum(line.startswith("Arena ") for line in err.splitlines())


def test_a_pipeline_caps_the_arenas_before_its_model_threads():
    assert _arenas("") > 2  # glibc's default: an arena per new thread
    assert _arenas("from msw_audio.pipeline import Pipeline, PipelineConfig\n"
                   "Pipeline(PipelineConfig(cache_dir=None))") == 2


def test_the_operators_malloc_arena_max_wins():
    assert _run("from msw_audio.speech.heap import limit_arenas; print(limit_arenas())",
                MALLOC_ARENA_MAX="4").stdout.strip() == "False"
    assert _arenas("from msw_audio.speech.heap import limit_arenas; limit_arenas()",
                   MALLOC_ARENA_MAX="4") == 4


def test_release_freed_memory_runs_with_the_one_loader():
    assert _run("from msw_audio.speech import heap\n"
                "heap.release_freed_memory(); heap.release_freed_memory()\n"
                "print(heap._libc.cache_info().misses)").stdout.strip() == "1"


def test_a_released_tagger_encodes_the_same_after_loading_again():
    from msw_audio.coding.tagger import DEFAULT_MODEL_DIR, Encoder

    encoder = Encoder(DEFAULT_MODEL_DIR / "encoder", threads=1)
    texts = ["How are things at home?", "Fine, I suppose.", ""]
    before = encoder.encode(texts)
    encoder.release()
    assert not encoder.model.model_is_loaded
    assert (encoder.encode(texts) == before).all()
    assert encoder.model.model_is_loaded
