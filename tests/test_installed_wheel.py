"""``msw-audio tagger evaluate`` and ``tagger train`` run from a wheel installed outside the repo.

Why: the tagger commands used to put the source checkout on ``sys.path`` to find
``training/``; they must work from a normal install. The wheel is built from a copy of the
project (no network: the local setuptools, no build isolation), installed with ``--no-deps``
into a temporary target, and run from a folder outside the repository with only that target
(plus the virtual environment's dependencies) importable. The model is not part of the wheel,
so ``MSW_TAGGER_MODEL`` points at the source tree's ``models/tagger``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import setuptools

from tests.conftest import annomi_slice

REPO = Path(__file__).resolve().parents[1]


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for name in ("msw_audio", "training"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    if int(setuptools.__version__.split(".")[0]) < 77:  # predates PEP 639 license strings
        toml = src / "pyproject.toml"
        toml.write_text(toml.read_text().replace('license = "MIT"', 'license = {text = "MIT"}'))
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", str(src), "-w", str(dist)], check=True)
    return next(dist.glob("msw_audio-*.whl"))


def test_tagger_commands_run_from_an_installed_wheel(tmp_path: Path):
    wheel = _build_wheel(tmp_path)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--target", str(site), str(wheel)], check=True)
    assert (site / "training" / "train.py").is_file()
    assert (site / "msw_audio" / "coding" / "codebooks" / "codebook.yaml").is_file()
    # the review screen's own files and the vendored waveform player (never a CDN)
    web = site / "msw_audio" / "web"
    for name in ("review.js", "review.css", "vendor/wavesurfer.min.js", "vendor/regions.min.js",
                 "vendor/minimap.min.js", "vendor/LICENSE-wavesurfer.txt"):
        assert (web / name).is_file(), name
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1",
           "MSW_TAGGER_MODEL": str(REPO / "models" / "tagger")}
    where = subprocess.run(
        [sys.executable, "-c", "import msw_audio, training; print(msw_audio.__file__); "
         "print(training.__file__)"], cwd=run_dir, env=env, capture_output=True, text=True,
        check=True).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where

    annomi = annomi_slice(tmp_path / "annomi.csv", 2)
    cli = [sys.executable, "-m", "msw_audio.cli", "tagger"]
    ev = subprocess.run([*cli, "evaluate", "--annomi", str(annomi), "--json"], cwd=run_dir,
                        env=env, capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout.strip().splitlines()[-1])
    out = tmp_path / "model"
    tr = subprocess.run([*cli, "train", "--annomi", str(annomi), "--out", str(out),
                         "--folds", "0", "--version", "wheel-1"], cwd=run_dir, env=env,
                        capture_output=True, text=True, timeout=600)
    assert tr.returncode == 0, tr.stderr
    assert json.loads(tr.stdout.strip().splitlines()[-1])["version"] == "wheel-1"
    assert (out / "metadata.json").is_file()
