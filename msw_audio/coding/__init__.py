"""Coding: the codebook (the one source of codes) and what assigns codes to utterances.

The codebook and its YAML files, speaker-role suggestions, the utterance tagger and its
talk-context stage, and the AnnoMI reader that maps human labels onto the codebook.
"""
