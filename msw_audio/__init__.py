"""msw-audio: offline speech assistant for coding recorded Motivational Social Work sessions.

The package is laid out by stage (see docs/architecture.md): ``speech`` (audio -> words ->
speakers -> utterances), ``coding`` (codebook, tagger), ``scoring`` (features, MITI, rubric),
``review`` (the store), ``jobs`` (queue and worker), ``web`` (review screen) and ``cli``;
``records`` holds the one schema and ``pipeline`` composes the stages.

The names below are a lazy facade: ``import msw_audio`` stays cheap (no torch) and each name
imports its module only when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Facade name -> module that defines it (imported on first attribute access).
_EXPORTS = {
    "Pipeline": "msw_audio.pipeline",
    "PipelineConfig": "msw_audio.pipeline",
    "process_recording": "msw_audio.pipeline",
    "Session": "msw_audio.records",
    "Codebook": "msw_audio.coding.codebook",
    "load_codebook": "msw_audio.coding.codebook",
    "Store": "msw_audio.review.store",
    "MswError": "msw_audio.errors",
}

__all__ = [
    "Codebook", "MswError", "Pipeline", "PipelineConfig", "Session", "Store", "__version__",
    "load_codebook", "process_recording",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from msw_audio.coding.codebook import Codebook, load_codebook
    from msw_audio.errors import MswError
    from msw_audio.pipeline import Pipeline, PipelineConfig, process_recording
    from msw_audio.records import Session
    from msw_audio.review.store import Store


def __getattr__(name: str) -> Any:
    """Import the facade name's module on first use (PEP 562); unknown names stay errors."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'msw_audio' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
