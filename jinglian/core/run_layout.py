"""The names a run gives its files: shared by the engine that writes them (``pipeline``) and the readers
of a finished run (``cards``), which stand beside the engine, not on it."""

RUN_MARKER = "_job.json"  # the run marker: what makes a directory or bucket prefix a run
LOCK_FILE = ".jinglian.lock"  # held by the run writing the output
FINAL_KINDS = ("docs", "rejected", "errors")  # a final partition's data files, one per outcome
