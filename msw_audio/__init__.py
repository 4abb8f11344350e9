"""msw-audio: offline speech assistant for coding recorded Motivational Social Work sessions."""
__version__ = "0.1.0"
