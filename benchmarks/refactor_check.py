"""This tree against an earlier checkout on the same inputs, in alternating rounds: filter, small-job, extract.

Usage (issue 19 compared the code before the core refactor with main)::

    git worktree add ../jinglian-base 5d3f48a
    python benchmarks/refactor_check.py --base ../jinglian-base [--rounds 5] [--pages-per-set 23]

Three rows, each timed in rounds that alternate between the trees, so a change of the machine's
load between rounds hits both:

1. filter: ``FilterStage.process`` docs/s (CPU time) on the Chinese web sets (CLUE + CC-2021-43) and
   on 300 zh-laws documents, ``benchmarks/filter.py``'s timing worker run as a child for each tree.
2. small job: wall seconds of ``jinglian run`` of a 20-document job (normalize | dedup | pii) as a
   child process, ``--no-ray``, default and ``--ray`` (forced), each tree in its own directory with ``PYTHONPATH`` set to it.
3. extract: ``ExtractStage.process`` pages/s (CPU time, ``isolate=False`` so that the work is in the
   timed process) on the first N pages of every set of ``web-genres-extract``, one worker process per tree.

Each tree's figures are the best of its rounds (a shared machine only slows a run down) and the
ratio of the medians (one lucky round moves the best under heavy load); the small job uses the
median of wall and of CPU seconds, as ``engine.py --startup`` does. Ratios are this
tree / base: above 1 means this tree is slower for the job rows, faster for the throughput rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import bench_data, print_machine  # noqa: E402
from benchmarks.engine import write_small_job  # noqa: E402
from benchmarks.filter import _FILTER_WORKER, load_corpora  # noqa: E402

# One worker per tree: loads the pages once, then times one pass over them per line read from stdin.
_EXTRACT_WORKER = (
    "import gzip, json, sys, time; sys.path.insert(0, sys.argv[1]); import jinglian;"
    "assert jinglian.__file__.startswith(sys.argv[1]), jinglian.__file__;"
    "import pyarrow as pa; from jinglian.stages.extract.stage import ExtractParams, ExtractStage\n"
    "try:\n    from jinglian.core import documents as D\n"  # the tree measured may predate jinglian.core
    "except ImportError:\n    from jinglian import documents as D\n"
    "from pathlib import Path\n"
    "pages = []\n"
    "for path in sorted(Path(sys.argv[2]).glob('*/pages.jsonl.gz')):\n"
    "    with gzip.open(path, 'rt', encoding='utf-8') as f:\n"
    "        for n, line in zip(range(int(sys.argv[3])), f):\n"
    "            r = json.loads(line); pages.append((r['id'], r['html'].encode('utf-8'), r.get('url')))\n"
    "def table(part):\n"
    "    return pa.table({D.ID: [p[0] for p in part], D.TEXT: [''] * len(part),"
    " 'content': pa.array([p[1] for p in part], pa.binary()), 'url': pa.array([p[2] for p in part], pa.string())})\n"
    "stage = ExtractStage(ExtractParams(isolate=False)); stage.setup(); stage.process(table(pages[:1]))\n"
    "print(len(pages), flush=True)\n"
    "for _ in sys.stdin:\n"
    "    start = time.process_time()\n"
    "    for i in range(0, len(pages), 16):\n"
    "        stage.process(table(pages[i:i + 16]))\n"
    "    print(len(pages) / (time.process_time() - start), flush=True)\n")


def worker_rounds(commands: dict[str, list[str]], trees: dict[str, str], rounds: int, header: bool = False):
    """One child per tree, each timing one pass per line it reads and printing a rate; rounds alternate.

    ``header``: each child first prints one line (what it loaded); returns ``(headers, figures)`` then.
    """
    workers = {name: subprocess.Popen(commands[name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                      cwd=trees[name]) for name in trees}
    figures: dict = {name: [] for name in trees}
    try:
        headers = {name: w.stdout.readline().strip() for name, w in workers.items()} if header else None
        for _ in range(rounds):
            for name, w in workers.items():
                w.stdin.write("run\n")
                w.stdin.flush()
                figures[name].append(float(w.stdout.readline()))
    finally:
        for w in workers.values():
            w.stdin.close()
            w.wait()
    return (headers, figures) if header else figures


def filter_rounds(trees: dict[str, str], texts: list[str], rounds: int) -> dict:
    # both trees in child processes: timed in this process (which holds every corpus and the
    # benchmarks' imports), the same filter code ran at 0.92x its speed in a fresh child
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)
    try:
        return worker_rounds({name: [sys.executable, "-c", _FILTER_WORKER, tree, f.name] for name, tree in trees.items()},
                             trees, rounds)
    finally:
        os.unlink(f.name)


def extract_rounds(trees: dict[str, str], pages_dir: Path, per_set: int, rounds: int) -> tuple[int, dict]:
    commands = {name: [sys.executable, "-c", _EXTRACT_WORKER, tree, str(pages_dir), str(per_set)]
                for name, tree in trees.items()}
    counts, figures = worker_rounds(commands, trees, rounds, header=True)
    assert len(set(counts.values())) == 1, counts  # the same pages in both trees
    return int(counts["this"]), figures


MODES = {"--no-ray": ["--no-ray"], "default": [], "--ray": ["--ray"]}  # default picks in-process for 20 documents


def small_job_run(tree: str, job_path: str, out: str, flags: list[str]) -> tuple[float, float, str, str]:
    """Wall seconds, CPU seconds of the child (Ray's re-parented daemons not counted), the engine the run
    said it used, and a digest of its docs/."""
    # cwd is the tree: `python -m` puts the working directory first on sys.path
    env = {**os.environ, "PYTHONPATH": tree}
    cmd = [sys.executable, "-m", "jinglian.cli", "run", job_path, "--output", out, "--overwrite", *flags]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode:
        raise RuntimeError(f"{cmd} in {tree} failed:\n{proc.stdout[-3000:]}")
    engine = next((line.split("running ", 1)[1].split(":")[0].split(" (")[0] for line in proc.stdout.splitlines()
                   if line.startswith("jinglian: running ")), "?")
    digest = hashlib.sha256()
    for name in sorted(os.listdir(os.path.join(out, "docs"))):
        digest.update(Path(out, "docs", name).read_bytes())
    return wall, cpu, engine, digest.hexdigest()


def small_job_rounds(trees: dict[str, str], rounds: int) -> dict:
    figures: dict = {(name, mode): [] for name in trees for mode in MODES}
    cpus: dict = {key: [] for key in figures}
    engines: set[str] = set()
    digests: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        job_path = write_small_job(tmp)
        for _ in range(rounds):
            for mode, flags in MODES.items():
                for name, tree in trees.items():
                    wall, cpu, engine, digest = small_job_run(tree, job_path, os.path.join(tmp, "out"), flags)
                    figures[(name, mode)].append(wall)
                    cpus[(name, mode)].append(cpu)
                    engines.add(f"{name} {mode}: {engine}")
                    digests.add(digest)
    print("engines: " + "; ".join(sorted(engines)))
    print(f"docs/ byte-identical across trees and modes: {len(digests) == 1}")
    return figures, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="checkout of the earlier commit")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--job-rounds", type=int, default=3)
    parser.add_argument("--pages-per-set", type=int, default=23, help="first N pages of each web-genres-extract set")
    parser.add_argument("--only", choices=("filter", "job", "extract"), action="append")
    args = parser.parse_args()
    only = set(args.only or ("filter", "job", "extract"))
    base = str(Path(args.base).resolve())
    trees = {"this": str(REPO), "base": base}
    print_machine()
    print(f"this tree: {REPO}; base: {base}; 1-minute load at the start: {os.getloadavg()[0]:.1f}")
    root = bench_data()
    if "filter" in only:
        corpora = load_corpora(root, None)
        for name, texts in (("Chinese web (CLUE + CC)", corpora["CLUECorpusSmall"] + corpora["CC-2021-43 (CCNet)"]),
                            ("zh-laws (first 300)", corpora["zh-laws"][:300])):
            figures = filter_rounds(trees, texts, args.rounds)
            ours, theirs = max(figures["this"]), max(figures["base"])
            mid = statistics.median(figures["this"]) / statistics.median(figures["base"])
            print(f"filter {name}: {ours:,.0f} vs {theirs:,.0f} docs/s per core, ratio {ours / theirs:.3f}, of medians {mid:.3f}"
                  f" (best of {args.rounds}; this {' '.join(f'{v:,.0f}' for v in figures['this'])};"
                  f" base {' '.join(f'{v:,.0f}' for v in figures['base'])}; load {os.getloadavg()[0]:.1f})")
    if "job" in only:
        figures, cpus = small_job_rounds(trees, args.job_rounds)
        for mode in MODES:
            this, prev = (statistics.median(figures[(n, mode)]) for n in ("this", "base"))
            cpu_this, cpu_prev = (statistics.median(cpus[(n, mode)]) for n in ("this", "base"))
            each = "; ".join(f"{n} " + " ".join(f"{w:.2f}" for w in figures[(n, mode)]) for n in trees)
            print(f"20-document job {mode}: median wall {this:.2f} s vs {prev:.2f} s, ratio {this / prev:.3f};"
                  f" median CPU {cpu_this:.2f} s vs {cpu_prev:.2f} s, ratio {cpu_this / cpu_prev:.3f}"
                  f" (wall {each}; load {os.getloadavg()[0]:.1f})")
    if "extract" in only:
        n, figures = extract_rounds(trees, root / "web-genres-extract", args.pages_per_set, args.rounds)
        this, prev = max(figures["this"]), max(figures["base"])
        mid = statistics.median(figures["this"]) / statistics.median(figures["base"])
        print(f"extract {n} pages: {this:.2f} vs {prev:.2f} pages/s per core, ratio {this / prev:.3f}, of medians {mid:.3f}"
              f" (best of {args.rounds}; this {' '.join(f'{v:.2f}' for v in figures['this'])};"
              f" base {' '.join(f'{v:.2f}' for v in figures['base'])}; load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
