"""Scoring: session features, MITI summary scores and the principle rubric with calibration.

Reads coded utterances only; nothing here touches audio or the store.
"""
