"""``python -m msw_audio.cli``: the same entry point as the ``msw-audio`` script."""

import sys

from msw_audio.cli.main import main

sys.exit(main())
