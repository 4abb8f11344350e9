"""The review screen: HTML rendering, the Gradio Blocks UI and its static JS/CSS.

Why a sub-package: ``msw-audio serve`` must work from an installed package, so the Blocks
app lives here (``msw_audio.web.ui``) and the repo-root ``app.py`` only starts it. The
static files (``review.js``, ``review.css``) are served by ``msw_audio.web.server`` after login.
"""

from __future__ import annotations

import os
from pathlib import Path

# Gradio sends usage analytics unless told not to; nothing may leave this machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

STATIC_DIR = Path(__file__).resolve().parent
