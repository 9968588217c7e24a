"""What benchmarks/tokenization.py and benchmarks/shards.py share: Parquet inputs, a ``parquet -> tokenize``
job, and one timed ``run_job`` of it on the Ray instance the benchmark started."""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.parquet as pq


def write_inputs(corpora: dict[str, list[str]], directory: str, files: int) -> list[tuple[str, str]]:
    """(source, path) of each Parquet file: every corpus cut round-robin over its share of ``files``."""
    out = []
    total = sum(map(len, corpora.values()))
    for source, texts in corpora.items():
        k = max(1, round(files * len(texts) / total))
        for i in range(k):
            path = os.path.join(directory, source, f"{i:03d}.parquet")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            chunk = texts[i::k]
            pq.write_table(pa.table({"id": [f"{source}-{i}-{j}" for j in range(len(chunk))], "text": chunk}), path)
            out.append((source, path))
    return out


def write_job(path: str, inputs: list[tuple[str, str]], model: str, output: str, shard_tokens: int = 4_000_000,
              **params) -> str:
    """The job file; ``params``: more of the tokenize stage's parameters (``num_threads``)."""
    import yaml

    sources = sorted({s for s, _ in inputs})
    job = {
        "name": "tokenize-bench",
        "output": output,
        "input": [{"path": os.path.join(os.path.dirname(next(p for s2, p in inputs if s2 == s)), "*.parquet"),
                   "format": "parquet", "source": s} for s in sources],
        "stages": [{"tokenize": {"tokenizer": model, "valid_ratio": 0.01, "shard_tokens": shard_tokens, **params}}],
    }
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(job, f, allow_unicode=True)
    return path


def _tree_cpu(seen: dict) -> None:
    """Record into ``seen`` the CPU seconds so far of this process and every live descendant, by (pid, start)."""
    import psutil

    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            with proc.oneshot():
                t, key = proc.cpu_times(), (proc.pid, proc.create_time())
        except psutil.Error:
            continue
        seen[key] = t.user + t.system


def run_ours(job_path: str, output: str, workers: int, use_ray: bool | None = None) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds of this process and every Ray process under it (daemons included),
    and the stage's statistics.

    The tree is sampled every 0.2 s (cpu times only: cheap), so a process that ends (the segment's
    actors) loses at most its last 0.2 s: ours is understated by at most that much per actor.
    """
    import threading

    from jinglian.pipeline.executor import RunOptions, run_job
    from jinglian.pipeline.job import load_job

    job = load_job(job_path, output)
    before: dict = {}
    _tree_cpu(before)
    seen = dict(before)
    done = threading.Event()

    def sample():
        while not done.wait(0.2):
            _tree_cpu(seen)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        stats = run_job(job, RunOptions(workers=workers, use_ray=use_ray, quiet=True))
    finally:
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    _tree_cpu(seen)
    cpu = sum(v - before.get(k, 0.0) for k, v in seen.items())
    tokenize = next(s for s in stats["stages"] if s["name"] == "tokenize")
    return wall, cpu, tokenize


