"""Train a fastText supervised model in a process of its own: ``python -m jinglian.stages.quality.train_process``.

In a process that had allocated and freed large numpy arrays (training the
perplexity model), fastText's training reproducibly ended in "Encountered NaN"
on a set it trains on without error in a fresh process; so training always
runs in a fresh interpreter. A plain subprocess (not multiprocessing's spawn),
so the caller's main module is never re-imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run(input_path: str, model_path: str, options: dict) -> None:
    """Train on ``input_path`` (fastText's labelled format) with ``options`` (train_supervised keywords)."""
    # the child imports this module as the caller did (a benchmark or a Ray working directory may have
    # put jinglian on sys.path without installing it)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-m", __name__, input_path, model_path, json.dumps(options)],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()
        raise RuntimeError(f"quality: fastText training failed: {lines[-1]}")


def main(argv: list[str]) -> None:
    import fasttext

    input_path, model_path, options = argv[0], argv[1], json.loads(argv[2])
    fasttext.train_supervised(input=input_path, **options).save_model(model_path)


if __name__ == "__main__":
    main(sys.argv[1:])
