"""Jobs: the processing queue and its worker, through the review store.

Recordings are enqueued, claimed and processed here; results are ingested into the store.
"""
