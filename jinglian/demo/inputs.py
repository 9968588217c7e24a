"""Inputs a job asks the demo to make (``input: [{..., generate: demo}]``; registered in :data:`jinglian.stages.GENERATORS`).

- ``demo``: the generated documents as JSONL files (written once);
- ``demo-site``: the same documents served as web pages on 127.0.0.1 while the
  job runs, with seed-URL files for a ``format: urls`` input.

Both also write the quality classifier's training sets to ``<directory>/quality/``.
"""

from __future__ import annotations

import glob
import os

from jinglian.demo.corpus import generate_demo_inputs, quality_training_sets, write_jsonl


def prepare_inputs(kind: str, directory: str):
    """Make the inputs; return the running demo site (close it after the job) or None."""
    quality = os.path.join(directory, "quality")
    if not os.path.exists(os.path.join(quality, "negative.jsonl")):
        os.makedirs(quality, exist_ok=True)
        positives, negatives = quality_training_sets(400, seed=0)
        write_jsonl(os.path.join(quality, "positive.jsonl"), [{"text": t} for t in positives])
        write_jsonl(os.path.join(quality, "negative.jsonl"), [{"text": t} for t in negatives])
    if kind == "demo":
        if not glob.glob(os.path.join(directory, "demo-*.jsonl")):
            generate_demo_inputs(directory)
        return None
    from jinglian.demo.server import serve_demo_site

    return serve_demo_site(directory)
