"""Speech: audio in, words and speakers out (decode, transcribe, diarize, align, write).

Owns everything that turns a recording into timed, speaker-attributed utterances; it knows
nothing of codes or scores, so a new speech model changes only this package.
"""
