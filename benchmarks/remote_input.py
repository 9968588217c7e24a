"""Reading WARC files from an HTTP server vs from local disk: the same reads and the same run, ratio in one run.

The inputs: the 1,634 real pages of bench-data ``web-genres-extract`` (every dataset, many genres and
languages) as WARC response records, one gzip member per record as Common Crawl writes them, spread
over ``--files`` files. The server: an HTTP/1.1 server on 127.0.0.1 in its own process (the tests'
server, Range requests honoured), so it does not share the reader's interpreter.

Rows (each variant alternated with its baseline ``--repeats`` times, medians):

- ``read``: every record of every file through ``read_warc`` (parsing the archive and its HTTP
  payloads, no further work): the worst case for a remote reader, nothing hides its cost.
- ``run``: ``run_job`` with ``extract`` and ``normalize`` over the first ``--run-files`` files, in this
  process (the same engine path a Ray worker takes per partition), once from the paths list on the
  server (``limit``) and once from the local files; the outputs are checked equal (every column,
  ``input_file`` by its file name). Extraction dominates it, so it shows what a real run pays.

    python benchmarks/remote_input.py [--files 4] [--repeats 5] [--run-files 1] [--run-repeats 2] [--chunk-mb 16]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, bench_data, print_machine  # noqa: E402

sys.path.insert(0, str(REPO))


def _serve(files_dir: str, queue) -> None:
    from tests.test_remote_inputs import serve_files

    files = {}
    for name in os.listdir(files_dir):
        with open(os.path.join(files_dir, name), "rb") as f:
            files["/" + name] = f.read()
    with serve_files(files) as server:
        queue.put(server.url)
        while True:
            time.sleep(3600)


def build_inputs(directory: str, n_files: int) -> list[str]:
    from jinglian.stages.ingest.warc_write import response_record

    pages = []
    for path in sorted((bench_data() / "web-genres-extract").glob("*/pages.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            pages.extend(json.loads(line) for line in f if line.strip())
    names = [f"part-{i:03d}.warc.gz" for i in range(n_files)]
    handles = [open(os.path.join(directory, name), "wb") for name in names]
    for i, page in enumerate(pages):
        url = page.get("url") or f"https://bench.example/{page['id']}"
        handles[i % n_files].write(response_record(url, 200, {"Content-Type": "text/html; charset=utf-8"},
                                                   page["html"].encode("utf-8")))
    for h in handles:
        h.close()
    with open(os.path.join(directory, "warc.paths.gz"), "wb") as f:
        f.write(gzip.compress("".join(n + "\n" for n in names).encode()))
    return names


def time_reads(paths: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of this process (all its threads: the range fetches too) and records."""
    from jinglian.stages.ingest import ReadError
    from jinglian.stages.ingest.warc import read_warc

    start, cpu = time.perf_counter(), time.process_time()
    records = 0
    for path in paths:
        for item in read_warc(path, {}):
            assert not isinstance(item, ReadError), item
            records += 1
    return time.perf_counter() - start, time.process_time() - cpu, records


def time_run(work: str, name: str, entry: dict) -> tuple[float, dict]:
    import yaml

    from jinglian.pipeline.executor import RunOptions, run_job
    from jinglian.pipeline.job import load_job

    job_file = os.path.join(work, f"{name}.yaml")
    with open(job_file, "w", encoding="utf-8") as f:
        yaml.safe_dump({"name": name, "output": os.path.join(work, name), "input": [entry],
                        # a page over extract's 10 s limit is rejected; on a loaded machine which pages hit
                        # it varies from run to run, so the limit is raised to keep the outputs comparable
                        "stages": [{"extract": {"timeout_s": 120.0}}, {"normalize": {}}]}, f)
    job = load_job(job_file)
    start = time.perf_counter()
    stats = run_job(job, RunOptions(use_ray=False, quiet=True, overwrite=True))
    return time.perf_counter() - start, stats


def outputs(directory: str) -> dict:
    import pyarrow.parquet as pq

    out = {}
    for sub in ("docs", "rejected", "errors"):
        for name in sorted(os.listdir(os.path.join(directory, sub))):
            rows = pq.read_table(os.path.join(directory, sub, name)).to_pylist()
            for row in rows:
                row["input_file"] = os.path.basename(row["input_file"])
            out[f"{sub}/{name}"] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run-files", type=int, default=1)
    parser.add_argument("--run-repeats", type=int, default=2, help="0: the read rows only")
    parser.add_argument("--chunk-mb", type=int, default=16, help="range request size (jinglian.core.filesystem.CHUNK_BYTES)")
    args = parser.parse_args()
    from jinglian.core import filesystem

    filesystem.CHUNK_BYTES = args.chunk_mb << 20
    print_machine()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as work:
        files_dir = os.path.join(work, "files")
        os.makedirs(files_dir)
        names = build_inputs(files_dir, args.files)
        size = sum(os.path.getsize(os.path.join(files_dir, n)) for n in names)
        queue = multiprocessing.get_context("spawn").Queue()
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(files_dir, queue), daemon=True)
        server.start()
        try:
            url = queue.get(timeout=120)
            local = [os.path.join(files_dir, n) for n in names]
            remote = [f"{url}/{n}" for n in names]
            print(f"inputs: {args.files} WARC files, {size / 2**20:.1f} MiB gzip; range requests of {args.chunk_mb} MiB")
            times = {"local": [], "http": []}
            cpu = {"local": [], "http": []}
            for _ in range(args.repeats):
                for variant, paths in (("local", local), ("http", remote)):
                    seconds, cpu_seconds, records = time_reads(paths)
                    times[variant].append(seconds)
                    cpu[variant].append(cpu_seconds)
            _report("read", times, records, size)
            _report("read, CPU time of the reading process", cpu, records, size)
            if args.run_repeats:
                times = {"local": [], "http": []}
                run_dir = os.path.join(work, "run-files")
                os.makedirs(run_dir)
                for n in names[: args.run_files]:
                    os.link(os.path.join(files_dir, n), os.path.join(run_dir, n))
                entries = {"local": {"path": os.path.join(run_dir, "*.warc.gz"), "format": "warc"},
                           "http": {"paths_list": f"{url}/warc.paths.gz", "prefix": url, "limit": args.run_files,
                                    "format": "warc"}}
                for i in range(args.run_repeats):
                    for variant in ("local", "http"):
                        seconds, stats = time_run(work, f"{variant}-{i}", entries[variant])
                        times[variant].append(seconds)
                run_size = sum(os.path.getsize(os.path.join(run_dir, n)) for n in os.listdir(run_dir))
                _report("run", times, stats["totals"]["read"], run_size)
                first = outputs(os.path.join(work, "local-0"))
                for i in range(args.run_repeats):
                    for variant in ("local", "http"):
                        if (variant, i) != ("local", 0):
                            _compare(f"{variant}-{i}", first, outputs(os.path.join(work, f"{variant}-{i}")))
                print(f"totals of the last run: {stats['totals']}")
        finally:
            server.kill()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _compare(name: str, first: dict, other: dict) -> None:
    """Whether a run's outputs equal the first local run's (every column; input_file by its file name)."""
    if other == first:
        print(f"run outputs of {name} equal local-0's")
        return
    rows = {(k, r["id"]): r for k, rows in first.items() for r in rows}
    changed = [(k, r["id"]) for k, rs in other.items() for r in rs if rows.get((k, r["id"])) != r]
    print(f"run outputs of {name} DIFFER from local-0's: {len(changed)} rows, e.g. {changed[:3]}")


def _report(row: str, times: dict, records: int, size: int) -> None:
    local, http = statistics.median(times["local"]), statistics.median(times["http"])
    print(f"{row}: local {local:.2f} s ({records / local:.0f} records/s, {size / 2**20 / local:.1f} MiB/s), "
          f"http {http:.2f} s ({records / http:.0f} records/s); http/local time {http / local:.3f} "
          f"(all local {', '.join(f'{t:.2f}' for t in times['local'])}; all http {', '.join(f'{t:.2f}' for t in times['http'])})")


if __name__ == "__main__":
    main()
