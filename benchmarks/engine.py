"""Engine overhead and parallelism: one CPU-bound stage, a plain loop vs the pipeline on 2 Ray workers.

The stage is ``filter`` with its default rule sets (script-aware statistics
for every document: the typical CPU-bound curation stage).

Baseline (a): the script anyone would write — read each JSONL file, build Arrow
batches, call the stage's ``process``, write the kept rows to Parquet, one
process. (b): ``jinglian run`` of the same stage over the same files with 2
workers (Ray started before timing; actor start-up is timed). Prints docs/s of
each and the ratio.

``--fixed-cost N`` measures instead what a run on Ray pays whatever its size: a
tiny job (normalize | dedup barrier | pii: two segments and a barrier) forced onto
Ray with 2 workers, each run a child process, N rounds; with ``--base DIR`` (an
earlier checkout, e.g. ``git worktree add ../jinglian-base <commit>``) the
rounds alternate this tree and that one (``PYTHONPATH`` set to each). Prints wall
seconds per step (``ray.init``, each segment, the barrier, shutdown), CPU
seconds and peak memory of the child's process tree (driver, Ray's processes,
workers), and checks that every run writes byte-identical ``docs/``.

``--startup N`` measures what a user pays for a 20-document job: ``jinglian
run`` as a child process, N rounds alternating the default (which runs a job
this small in-process), ``--no-ray`` and ``--ray`` (Ray forced). Prints wall
seconds, the median CPU seconds of the process tree and the peak memory of the whole process tree (the driver, Ray's
system processes and workers: the sum of RSS and the sum of PSS, which counts
shared pages once, sampled every 50 ms with psutil), the ratios to
``--no-ray``, and checks that all variants write byte-identical ``docs/``.

    python benchmarks/engine.py [--files 16] [--docs 1500]
    python benchmarks/engine.py --fixed-cost 3 [--base ../jinglian-base]
    python benchmarks/engine.py --startup 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, TreeMemory, print_machine  # noqa: E402

from jinglian.core import documents as D  # noqa: E402
from jinglian.demo.corpus import generate_documents  # noqa: E402
from jinglian.pipeline import executor  # noqa: E402
from jinglian.pipeline.executor import RunOptions, run_job  # noqa: E402
from jinglian.pipeline.job import load_job  # noqa: E402
from jinglian.pipeline.ray_runtime import RaySession  # noqa: E402
from jinglian.stages.filter import FilterParams, FilterStage  # noqa: E402

STAGE = {"filter": {}}


def write_inputs(directory: str, files: int, docs_per_file: int) -> list[str]:
    docs = generate_documents(n=600, seed=1)
    paths = []
    for f in range(files):
        path = os.path.join(directory, f"in-{f:03d}.jsonl")
        with open(path, "w", encoding="utf-8") as out:
            for i in range(docs_per_file):
                doc = docs[(f * docs_per_file + i) % len(docs)]
                out.write(json.dumps({"text": doc["text"]}, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


def write_dedup_job(directory: str, name: str, files: int, docs_per_file: int) -> str:
    """A job of ``files`` JSONL files x ``docs_per_file`` docs, normalize | dedup (barrier) | pii, output in
    ``directory/out``; returns the job file's path."""
    os.makedirs(os.path.join(directory, "in"), exist_ok=True)
    write_inputs(os.path.join(directory, "in"), files, docs_per_file)
    job_path = os.path.join(directory, f"{name}.yaml")
    with open(job_path, "w") as f:
        json.dump({"name": name, "output": os.path.join(directory, "out"),
                   "input": [{"path": os.path.join(directory, "in", "in-*.jsonl"), "format": "jsonl"}],
                   "stages": [{"normalize": {}}, {"dedup": {}}, {"pii": {}}]}, f)
    return job_path


def write_small_job(directory: str) -> str:
    """The 20-document job of the start-up figures (2 files x 10 docs)."""
    return write_dedup_job(directory, "small", 2, 10)


def plain_loop(paths: list[str], out_dir: str, batch_size: int = 256) -> int:
    stage = FilterStage(FilterParams())
    stage.setup()
    total = 0
    for n, path in enumerate(paths):
        kept = []
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line)["text"] for line in f]
        for start in range(0, len(rows), batch_size):
            texts = rows[start : start + batch_size]
            batch = D.with_verdict_columns(pa.table({D.ID: [str(i) for i in range(len(texts))], D.TEXT: texts}))
            out = stage.process(batch)
            kept.append(D.active(out))
            total += len(texts)
        pq.write_table(pa.concat_tables(kept), os.path.join(out_dir, f"part-{n:05d}.parquet"))
    return total


def _timed(name, fn, steps):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            steps.append((name, time.perf_counter() - start))
    return timed


def write_fixed_cost_job(directory: str) -> str:
    """The tiny job of ``--fixed-cost`` (4 files x 50 docs)."""
    return write_dedup_job(directory, "fixed", 4, 50)


def fixed_cost_run(job_path: str) -> dict:
    """One run of the tiny job in a fresh Ray, in this process: {"steps": [(step, wall s)], "digest": of docs/}.

    Every step is timed where the executor calls it, so the same code times any tree that has these names.
    """
    import ray

    steps: list = []
    patched = {"_run_segment": executor._run_segment, "_run_barrier": executor._run_barrier}
    session = {"start": RaySession.start, "stop": RaySession.stop}
    RaySession.start = _timed("ray.init", session["start"], steps)
    RaySession.stop = _timed("shutdown (actors, Ray)", session["stop"], steps)
    executor._run_segment = _timed("segment", patched["_run_segment"], steps)
    executor._run_barrier = _timed("barrier (dedup prepare)", patched["_run_barrier"], steps)
    job = load_job(job_path)
    start = time.perf_counter()
    try:
        run_job(job, RunOptions(use_ray=True, workers=2, quiet=True, overwrite=True))
    finally:
        RaySession.start, RaySession.stop = session["start"], session["stop"]
        for name, fn in patched.items():
            setattr(executor, name, fn)
    steps.append(("run_job (incl. shutdown)", time.perf_counter() - start))
    assert not ray.is_initialized()
    digest = hashlib.sha256()
    for name in sorted(os.listdir(os.path.join(job.output, "docs"))):
        with open(os.path.join(job.output, "docs", name), "rb") as f:
            digest.update(f.read())
    return {"steps": steps, "digest": digest.hexdigest()}


def fixed_cost_child(job_path: str, tree: str) -> None:
    """``--fixed-cost``'s child: one run with the jinglian of ``tree``; its figures as one JSON line."""
    import jinglian

    assert os.path.realpath(jinglian.__file__).startswith(os.path.realpath(tree) + os.sep), jinglian.__file__
    print("FIXED-COST " + json.dumps(fixed_cost_run(job_path)))


def fixed_cost_tree_run(job_path: str, tree: str) -> dict:
    """A child process runs the job with ``tree`` on PYTHONPATH; adds its process tree's CPU s and peak memory."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tree, os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, os.path.abspath(__file__), "--fixed-cost-child", job_path, "--tree", tree]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tree)
    memory = TreeMemory(proc.pid)
    said, _ = proc.communicate(timeout=900)
    memory.stop()
    line = next((line for line in said.splitlines() if line.startswith("FIXED-COST ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"{cmd} failed:\n{said[-3000:]}")
    return {**json.loads(line.split(" ", 1)[1]), "cpu": memory.cpu_s, "rss": memory.peak_rss, "pss": memory.peak_pss,
            "procs": memory.peak_processes}


def fixed_cost(rounds: int, base: str | None) -> None:
    """This tree (and ``base``, an earlier checkout, if given) in alternating rounds, each run a child process."""
    trees = {"this tree": str(REPO), **({f"base ({base})": os.path.abspath(base)} if base else {})}
    figures: dict = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        job_path = write_fixed_cost_job(tmp)
        for _ in range(rounds):
            for name, tree in trees.items():  # alternate, so both see the same machine load
                figures[name].append(fixed_cost_tree_run(job_path, tree))
    print(f"tiny job: 4 files x 50 docs, normalize | dedup (barrier) | pii, Ray forced, 2 workers; {rounds} rounds; "
          "wall s per step (each run), medians")
    for name, runs in figures.items():
        print(f"{name}:")
        for i, (step, _) in enumerate(runs[0]["steps"]):
            values = [run["steps"][i][1] for run in runs]
            print(f"  {step:<28} {' '.join(f'{v:6.2f}' for v in values)}   median {statistics.median(values):6.2f}")
        for label, key, scale in (("CPU s, process tree", "cpu", 1), ("peak RSS MB, tree", "rss", 2**20),
                                  ("peak PSS MB, tree", "pss", 2**20), ("processes (peak)", "procs", 1)):
            values = [run[key] / scale for run in runs]
            print(f"  {label:<28} {' '.join(f'{v:6.1f}' for v in values)}   median {statistics.median(values):6.1f}")
    if base:
        this, other = (figures[name] for name in trees)
        for label, pick in (("run_job", lambda r: r["steps"][-1][1]), ("CPU s", lambda r: r["cpu"])):
            print(f"ratio this / base, median {label}: "
                  f"{statistics.median(map(pick, this)) / statistics.median(map(pick, other)):.2f}x")
    digests = {r["digest"] for runs in figures.values() for r in runs}
    print(f"docs/ byte-identical across all runs: {len(digests) == 1}")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f}")


STARTUP_VARIANTS = {"default": [], "--no-ray": ["--no-ray"], "--ray (forced)": ["--ray"]}


def startup_run(job_path: str, out: str, flags: list[str]) -> dict:
    """``jinglian run`` of the job as a child process: wall s, peak tree memory, docs/ digest, what it said."""
    cmd = [sys.executable, "-m", "jinglian.cli", "run", job_path, "--output", out, "--overwrite", *flags]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    memory = TreeMemory(proc.pid)
    said, _ = proc.communicate(timeout=600)
    wall = time.perf_counter() - start
    memory.stop()
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed:\n{said[-3000:]}")
    digest = hashlib.sha256()
    for name in sorted(os.listdir(os.path.join(out, "docs"))):
        with open(os.path.join(out, "docs", name), "rb") as f:
            digest.update(f.read())
    engine = next((line.split("running ", 1)[1].split(":")[0].split(" (")[0] for line in said.splitlines()
                   if line.startswith("jinglian: running ")), "?")
    return {"wall": wall, "cpu": memory.cpu_s, "rss": memory.peak_rss, "pss": memory.peak_pss, "procs": memory.peak_processes,
            "digest": digest.hexdigest(), "engine": engine}


def startup(rounds: int) -> None:
    figures: dict = {name: [] for name in STARTUP_VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        job_path = write_small_job(tmp)
        for _ in range(rounds):
            for name, flags in STARTUP_VARIANTS.items():  # alternate, so every variant sees the same load
                figures[name].append(startup_run(job_path, os.path.join(tmp, "out"), flags))
    print(f"20-document job (2 files x 10 docs, normalize | dedup (barrier) | pii), `jinglian run` as a child process, "
          f"{rounds} rounds; peak memory of the process tree")
    base = statistics.median(r["wall"] for r in figures["--no-ray"])
    print(f"{'variant':<16}{'runs on':<38}{'wall s (each)':<24}{'median':>8}{'x --no-ray':>11}{'CPU s':>8}"
          f"{'peak RSS MB':>13}{'peak PSS MB':>13}{'processes':>11}")
    for name, runs in figures.items():
        walls = [r["wall"] for r in runs]
        median = statistics.median(walls)
        print(f"{name:<16}{runs[0]['engine'][:37]:<38}{' '.join(f'{w:.2f}' for w in walls):<24}{median:8.2f}"
              f"{median / base:10.2f}x{statistics.median(r['cpu'] for r in runs):8.1f}{max(r['rss'] for r in runs) / 2**20:13.0f}{max(r['pss'] for r in runs) / 2**20:13.0f}"
              f"{max(r['procs'] for r in runs):11d}")
    digests = {r["digest"] for runs in figures.values() for r in runs}
    print(f"docs/ byte-identical across all runs: {len(digests) == 1}")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--docs", type=int, default=1500, help="documents per file")
    parser.add_argument("--fixed-cost", type=int, default=0, metavar="N", help="measure the fixed cost instead, N rounds")
    parser.add_argument("--base", help="with --fixed-cost: an earlier checkout to alternate with")
    parser.add_argument("--fixed-cost-child", metavar="JOB", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--startup", type=int, default=0, metavar="N",
                        help="wall clock and peak process-tree memory of a 20-document job: default, --no-ray, --ray; N rounds")
    args = parser.parse_args()
    if args.fixed_cost_child:
        fixed_cost_child(args.fixed_cost_child, args.tree)
        return
    print_machine()
    if args.startup:
        startup(args.startup)
        return
    if args.fixed_cost:
        fixed_cost(args.fixed_cost, args.base)
        return
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "in"))
        paths = write_inputs(os.path.join(tmp, "in"), args.files, args.docs)
        n_docs = args.files * args.docs
        os.makedirs(os.path.join(tmp, "plain"))
        t0 = time.perf_counter()
        plain_loop(paths, os.path.join(tmp, "plain"))
        plain_s = time.perf_counter() - t0

        job_path = os.path.join(tmp, "job.yaml")
        with open(job_path, "w") as f:
            json.dump({"name": "bench", "output": os.path.join(tmp, "out"),
                       "input": [{"path": os.path.join(tmp, "in", "in-*.jsonl"), "format": "jsonl"}], "stages": [STAGE]}, f)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        t0 = time.perf_counter()
        stats = run_job(load_job(job_path), RunOptions(use_ray=True, workers=2, quiet=True))
        pipe_s = time.perf_counter() - t0
        ray.shutdown()
        assert stats["totals"]["read"] == n_docs

    print(f"documents: {n_docs} in {args.files} files, stage: {STAGE}")
    print(f"(a) plain Python loop, 1 process : {n_docs / plain_s:10.0f} docs/s  ({plain_s:.2f} s)")
    print(f"(b) jinglian pipeline, 2 workers : {n_docs / pipe_s:10.0f} docs/s  ({pipe_s:.2f} s)")
    print(f"ratio (b)/(a): {plain_s / pipe_s:.2f}x")


if __name__ == "__main__":
    main()
