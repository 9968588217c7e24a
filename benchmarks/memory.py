"""Peak memory of a job as its input grows: normalize -> filter -> dedup at 1x, 2x and 4x input.

Input grows two ways: more files of the same size (more partitions), and one
file that gets bigger (more batches in one partition). Each run is a fresh
child process running ``run_job``; it reports its own peak RSS (VmHWM: Linux
carries ``ru_maxrss`` across fork/exec, so a child of a large process would
report its parent's peak) and, from a sampling thread, the peak of its whole
process tree (with ``--ray``: the driver plus the Ray processes it starts).

The knobs that bound memory, as set here: ``--batch-size`` (rows per batch
through the stages), ``--spill-mb`` (the sink's buffer before it spills a chunk
to disk, ``jinglian.pipeline.sink.SPILL_BYTES``, 64 MiB by default),
``--budget-mb`` (dedup ``memory_budget_mb``: sets its shuffle partitions and
the record batches its map phases read).

Dedup's own peak: the child resets its high-water mark (``/proc/self/clear_refs``)
when dedup's ``prepare`` starts and reads it when it ends (``prepare peak``),
then resets it again, so the rest of the job (``process`` applying the
verdicts, and the sinks) shows as ``apply peak``. In-process, every map and
shuffle task runs in this one process: the figures are a worker's peak.

    python benchmarks/memory.py [--docs 1000] [--files 1] [--ray] [--pools mimalloc,system]
    python benchmarks/memory.py --axes file,file-nodedup --pools system --spill-mb 1 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import print_machine  # noqa: E402

# filter rule sets that most clean demo lines pass; dedup on defaults (exact + MinHash) with a small budget
STREAMING = [{"normalize": {}}, {"filter": {"rulesets": ["c4", "chinese"]}}]


# how the input grows: option name -> (label, with dedup)
AXES = {"files": ("files", True), "file": ("file size", True), "file-nodedup": ("file size, no dedup", False)}


def stages(budget_mb: float | None, lines: bool = False) -> list[dict]:
    """The job's stages: the streaming ones, then dedup unless ``budget_mb`` is None (``lines``: also
    CCNet line dedup, a line in more than 10 documents is boilerplate)."""
    dedup = {"memory_budget_mb": budget_mb, **({"lines": True} if lines else {})}
    return STREAMING + ([] if budget_mb is None else [{"dedup": dedup}])


def write_inputs(directory: str, files: int, docs_per_file: int) -> int:
    """``files`` JSONL files of distinct documents (random lines of the demo corpus); returns bytes written.

    Every document is drawn independently, so near-duplicates are as rare at 4x as at 1x and the
    dedup work grows with the input, not faster.
    """
    import random

    from jinglian.demo.corpus import generate_documents

    lines = sorted({line for d in generate_documents(n=400, seed=1) for line in d["text"].splitlines() if len(line) > 20})
    os.makedirs(directory, exist_ok=True)
    size = 0
    for f in range(files):
        with open(os.path.join(directory, f"in-{f:04d}.jsonl"), "w", encoding="utf-8") as out:
            for i in range(docs_per_file):
                rng = random.Random(f * docs_per_file + i)
                text = "\n".join(rng.sample(lines, 12))
                size += out.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return size


def write_job(directory: str, budget_mb: float | None, lines: bool = False) -> str:
    import yaml

    path = os.path.join(directory, "job.yaml")
    job = {"name": "memory", "output": os.path.join(directory, "out"),
           "input": [{"path": os.path.join(directory, "in"), "format": "jsonl"}],
           "stages": stages(budget_mb, lines)}
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(job, f, allow_unicode=True)
    return path


def measure(directory: str, files: int, docs_per_file: int, *, budget_mb: float | None = 8, spill_mb: float = 8,
            batch_size: int = 256, ray_workers: int = 0, arrow_pool: str | None = None, lines: bool = False) -> dict:
    """Write the input under ``directory``, run the job in a child process; its peaks and totals.

    ``budget_mb=None`` leaves dedup out (only the streaming stages). ``arrow_pool``: Arrow's
    allocator (``ARROW_DEFAULT_MEMORY_POOL``): ``system`` gives freed memory back at once, while the
    default (mimalloc) keeps some of it, which shows as a higher peak RSS.
    """
    size = write_inputs(os.path.join(directory, "in"), files, docs_per_file)
    job = write_job(directory, budget_mb, lines)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", job, "--spill-mb", str(spill_mb),
           "--batch-size", str(batch_size), "--workers", str(ray_workers)]
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": arrow_pool} if arrow_pool else None
    out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"input_bytes": size, "docs": files * docs_per_file, **result}


def _hwm_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))


def _reset_hwm() -> None:
    """Start a new high-water mark at the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _track_dedup(peaks: dict) -> None:
    """Record the peak RSS inside dedup's ``prepare`` (and reset the mark for what follows)."""
    from jinglian.stages.dedup import DedupStage

    prepare = DedupStage.prepare

    def tracked(self, rows, ops):
        peaks["before_kib"] = _hwm_kib()
        _reset_hwm()
        try:
            return prepare(self, rows, ops)
        finally:
            peaks["prepare_kib"] = _hwm_kib()
            _reset_hwm()

    DedupStage.prepare = tracked


def _tree_rss() -> int:
    import psutil

    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total


def _child(args) -> None:
    """Run the job here and print one JSON line: peak RSS of this process and of its process tree (KiB)."""
    from jinglian.pipeline import sink
    from jinglian.pipeline.executor import RunOptions, run_job
    from jinglian.pipeline.job import load_job

    sink.SPILL_BYTES = int(args.spill_mb * 2**20)
    dedup_peaks: dict = {}
    _track_dedup(dedup_peaks)
    tree_peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.1):
            tree_peak[0] = max(tree_peak[0], _tree_rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    options = RunOptions(use_ray=args.workers > 0, workers=args.workers or None, batch_size=args.batch_size,
                         quiet=True, object_store_mb=256 if args.workers else None)
    stats = run_job(load_job(args.child), options)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    hwm = _hwm_kib()
    if dedup_peaks:  # the whole run's peak is the highest of the three stretches
        dedup_peaks["apply_kib"] = hwm
        hwm = max(dedup_peaks.values())
    print(json.dumps({"peak_kib": hwm, "tree_peak_kib": max(tree_peak[0] >> 10, hwm), "wall_s": round(wall, 2),
                      "dedup_prepare_kib": dedup_peaks.get("prepare_kib"), "dedup_apply_kib": dedup_peaks.get("apply_kib"),
                      "totals": stats["totals"], "dedup_partitions": (stats["stages"][-1].get("prepare") or {}).get("partitions")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1000, help="documents per file at 1x")
    parser.add_argument("--files", type=int, default=1, help="files at 1x")
    parser.add_argument("--budget-mb", type=float, default=8.0, help="dedup memory_budget_mb")
    parser.add_argument("--spill-mb", type=float, default=8.0, help="sink spill threshold (SPILL_BYTES)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--ray", action="store_true", help="run with 2 Ray workers (process tree summed) instead of in-process")
    parser.add_argument("--pools", default="mimalloc,system", help="Arrow allocators to run with, comma-separated")
    parser.add_argument("--axes", default=",".join(AXES), help=f"how the input grows, among: {','.join(AXES)}")
    parser.add_argument("--lines", action="store_true", help="dedup also removes boilerplate lines (lines: true)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per point: the median is printed, with min-max")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    print_machine()
    knobs = dict(budget_mb=args.budget_mb, spill_mb=args.spill_mb, batch_size=args.batch_size, lines=args.lines)
    print(f"knobs: dedup memory_budget_mb={args.budget_mb}, lines={args.lines}, SPILL_BYTES={args.spill_mb} MiB, batch_size={args.batch_size}")
    modes = [("ray x2 (tree)", 2)] if args.ray else [("in-process", 0)]
    axes = [(AXES[a][0], args.budget_mb if AXES[a][1] else None) for a in args.axes.split(",")]
    print("mode | arrow pool | input grows by | scale | input | peak RSS | dedup prepare peak | dedup apply peak "
          "| wall | dedup partitions")
    for mode, workers in modes:
        for pool in args.pools.split(","):
            for axis, budget in axes:
                base: dict = {}
                for scale in (1, 2, 4):
                    files, docs = (args.files * scale, args.docs) if axis == "files" else (1, args.files * args.docs * scale)
                    runs = []
                    for _ in range(args.repeat):
                        with tempfile.TemporaryDirectory() as tmp:
                            runs.append(measure(tmp, files, docs, ray_workers=workers, arrow_pool=pool,
                                                **{**knobs, "budget_mb": budget}))
                    r = runs[0]
                    peaks = {"peak": [x["tree_peak_kib"] if workers else x["peak_kib"] for x in runs]}
                    if budget is not None and not workers:
                        peaks["prepare"] = [x["dedup_prepare_kib"] for x in runs]
                        peaks["apply"] = [x["dedup_apply_kib"] for x in runs]
                    cells = [_spread(values, base.setdefault(name, statistics.median(values)))
                             for name, values in peaks.items()]
                    cells += ["-"] * (3 - len(cells))
                    print(f"{mode} | {pool} | {axis} | {scale}x | {files} files, {r['docs']} docs, "
                          f"{r['input_bytes'] / 2**20:.1f} MiB | {' | '.join(cells)} "
                          f"| {statistics.median(x['wall_s'] for x in runs):.1f} s | {r['dedup_partitions']}", flush=True)


def _spread(values: list[int], base: float) -> str:
    """Median MiB (ratio to the 1x median) and, over repeats, min-max."""
    mid = statistics.median(values)
    text = f"{mid / 1024:.0f} MiB ({mid / base:.2f}x)"
    if len(values) > 1:
        text += f" [{min(values) / 1024:.0f}-{max(values) / 1024:.0f}]"
    return text


if __name__ == "__main__":
    main()
