"""The ``msw-audio`` command line: ``main`` assembles one sub-command module per area."""
