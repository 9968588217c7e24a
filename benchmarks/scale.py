"""Scale benchmark, side by side with datatrove: end to end on WARC pages, and dedup alone on text.

Builds its inputs deterministically from the bench data (``../shared/bench-data`` or
``$JINGLIAN_BENCH_DATA``), at 1x, 2x and 4x:

- a WARC set of real pages: every page of ``web-genres-extract``, ``article-extraction-benchmark``
  and ``magic-html-article`` (1,973 distinct pages, shuffled with a fixed seed), ``--pages`` records
  per 1x in gzip-member ``.warc.gz`` files of 50 records; past the distinct pages a record repeats
  an earlier page under another URL (crawls do: exact duplicates for dedup);
- a text corpus of ``--docs`` documents per 1x in JSONL files of 1,000: real text (laws,
  Wikipedia paragraphs, the d2l textbook, Chinese web documents, English novels and wikitext) cut
  into ~600-byte pieces at line ends, 60% of the documents distinct pieces, 20% exact copies of
  one of them, 20% near copies (about 1 character in 100 replaced: Jaccard of 5-shingles ~0.9).

Then, interleaved per size, each side on the same files with 2 workers:

- jinglian: ``jinglian run`` of a generated job (warc: read -> extract -> langid -> filter -> dedup;
  text: read -> dedup) as a child process;
- datatrove (when ``--datatrove-python`` exists): ``scale_datatrove.py`` in that interpreter,
  FineWeb's pipeline (WarcReader -> Trafilatura -> LanguageFilter -> Gopher / C4 / FineWeb filters
  -> the four MinHash stages; text: JsonlReader -> the four MinHash stages).

Prints wall seconds, pages (documents) per second, CPU seconds per 1,000 inputs and the peak
memory of the whole process tree (sum of RSS and of PSS, and the largest single worker, sampled
every 50 ms with psutil), per stage where each tool reports it, and the jinglian / datatrove ratios.

    python benchmarks/scale.py --datatrove-python VENV/bin/python
    python benchmarks/scale.py --sizes 1 --pages 200 --docs 5000      # a quick look
    python benchmarks/scale.py --only warc --sizes 4 --pages 50 --rounds 3   # 3 rounds, alternating who goes first
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py has the standard library's name: this folder goes to the end of the path.
_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != _HERE] + [_HERE]

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

from common import REPO, TreeMemory, bench_data, print_machine  # noqa: E402

sys.path.insert(0, str(REPO))  # run from a checkout without installing it too

from jinglian.stages.ingest.warc_write import response_record  # noqa: E402

PAGES_PER_FILE = 50
DOCS_PER_FILE = 1000
PIECE_BYTES = 600
FETCH_TIME = datetime(2026, 1, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------- inputs

def real_pages(data: Path) -> list[tuple[str, str, bytes]]:
    """(url, label, html bytes) of every real page in the bench data, in a fixed order."""
    pages = []
    for path in sorted((data / "web-genres-extract").glob("*/pages.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                pages.append((row.get("url") or f"https://{row['dataset']}.example/{row['id']}",
                              f"{row['dataset']}/{row.get('genre') or ''}", row["html"].encode("utf-8")))
    for folder, sub in (("article-extraction-benchmark", "html"), ("magic-html-article", "htmls")):
        for path in sorted((data / folder / sub).glob("*.html.gz")):
            pages.append((f"https://{folder}.example/{path.name[:-8]}", folder, gzip.decompress(path.read_bytes())))
    return pages


def _record(url: str, body: bytes, rng: random.Random) -> bytes:
    """A gzip WARC response record as the crawler writes it, plus the payload type Common Crawl
    records carry (datatrove's reader guesses with libmagic without it), with a record id and gzip
    header fixed by the seed so the files are byte-identical on every build."""
    record = gzip.decompress(response_record(url, 200, {"Content-Type": "text/html"}, body, fetch_time=FETCH_TIME))
    record = re.sub(rb"urn:uuid:[0-9a-f-]{36}", f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}".encode(), record, count=1)
    record = record.replace(b"WARC-Type: response\r\n", b"WARC-Type: response\r\nWARC-Identified-Payload-Type: text/html\r\n", 1)
    return gzip.compress(record, compresslevel=6, mtime=0)


def build_warc(data: Path, n: int, folder: Path, per_file: int = PAGES_PER_FILE) -> dict:
    pages = real_pages(data)
    random.Random(17).shuffle(pages)
    rng = random.Random(n)
    folder.mkdir(parents=True)
    for start in range(0, n, per_file):
        with open(folder / f"pages-{start // per_file:04d}.warc.gz", "wb") as f:
            for i in range(start, min(n, start + per_file)):
                url, _, body = pages[i % len(pages)]
                if i >= len(pages):
                    url += ("&" if "?" in url else "?") + f"copy={i // len(pages)}"
                f.write(_record(url, body, rng))
    return {"records": n, "distinct_pages": min(n, len(pages)), "files": -(-n // per_file),
            "mib": sum(p.stat().st_size for p in folder.iterdir()) / 2**20}


def _texts(data: Path):
    """Real texts, Chinese first (the laws), then the rest; each a string."""
    with gzip.open(data / "zh-laws-lawrefbook" / "laws.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]
    for path in (data / "zh-wiki-mrc" / "unique_wiki_paragraphs.jsonl", data / "zh-tech-d2l" / "d2l-zh_chapters.jsonl",
                 data / "zh-web-misc" / "chinesewebtext_cc2021-43_cleared1_100docs.jsonl"):
        with open(path, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)["text"]
    yield (data / "zh-web-misc" / "CLUECorpusSmall_sampled_2500docs.txt").read_text(encoding="utf-8")
    for name in ("botchan.txt", "tinyshakespeare.txt", "wikitext-2-test.txt", "wikitext-2-valid.txt"):
        yield (data / "english-text" / name).read_text(encoding="utf-8")


def pieces(data: Path, limit: int) -> list[str]:
    """Up to ``limit`` pieces of about PIECE_BYTES each, cut at line ends (a long line is cut where it passes)."""
    out: list[str] = []
    for text in _texts(data):
        buf, size = [], 0
        for line in text.splitlines(keepends=True):
            while line:
                room = max(1, (PIECE_BYTES - size) // 3)  # characters that surely fit (3 bytes per CJK character)
                take = line if size + len(line.encode()) <= PIECE_BYTES or len(line) <= room else line[:room]
                line = line[len(take):]
                buf.append(take)
                size += len(take.encode())
                if size >= PIECE_BYTES * 0.8 or line:
                    piece = "".join(buf).strip()
                    if len(piece) >= 50:
                        out.append(piece)
                        if len(out) == limit:
                            return out
                    buf, size = [], 0
    return out


def near_copy(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, len(chars) // 100)):
        i = rng.randrange(len(chars))
        chars[i] = rng.choice("的一是了在人有我他这中大来上个国到说们为子和你地出道也时年abcdefghij")
    return "".join(chars)


def build_text(data: Path, n: int, folder: Path, pool: list[str]) -> dict:
    distinct = int(n * 0.6)
    if len(pool) < distinct:
        sys.exit(f"only {len(pool)} distinct pieces of text in the bench data, {distinct} needed: lower --docs")
    rng = random.Random(n)
    docs = [(f"d{i}", pool[i], "distinct") for i in range(distinct)]
    exact = int(n * 0.2)
    docs += [(f"x{i}", pool[rng.randrange(distinct)], "exact") for i in range(exact)]
    docs += [(f"n{i}", near_copy(pool[rng.randrange(distinct)], rng), "near") for i in range(n - distinct - exact)]
    rng.shuffle(docs)
    folder.mkdir(parents=True)
    for start in range(0, n, DOCS_PER_FILE):
        with open(folder / f"docs-{start // DOCS_PER_FILE:04d}.jsonl", "w", encoding="utf-8") as f:
            for doc_id, text, kind in docs[start:start + DOCS_PER_FILE]:
                f.write(json.dumps({"id": doc_id, "text": text, "planted": kind}, ensure_ascii=False) + "\n")
    return {"docs": n, "distinct": distinct, "exact_copies": exact, "near_copies": n - distinct - exact,
            "files": -(-n // DOCS_PER_FILE), "mib": sum(p.stat().st_size for p in folder.iterdir()) / 2**20}


# ---------------------------------------------------------------- runs

def measured(cmd: list[str], env: dict | None = None, log: Path | None = None) -> tuple[dict, str]:
    """Run ``cmd`` as a child process; wall s, CPU s of the whole tree, peak tree memory; and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    memory = TreeMemory(proc.pid)
    said, _ = proc.communicate()
    wall = time.perf_counter() - start
    memory.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if log:
        log.write_text(said)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{said[-3000:]}")
    return {"wall_s": wall, "cpu_s": max(reaped, memory.cpu_s), "rss": memory.peak_rss, "pss": memory.peak_pss,
            "worker_rss": memory.peak_child_rss, "procs": memory.peak_processes}, said


def jinglian_job(kind: str, inputs: Path, out: Path, job_path: Path) -> None:
    if kind == "warc":
        entry = {"path": str(inputs / "*.warc.gz"), "format": "warc", "source": "scale"}
        stages = [{"extract": {}}, {"langid": {"allow": ["zh", "en"]}}, {"filter": {}}, {"dedup": {}}]
    else:
        entry = {"path": str(inputs / "*.jsonl"), "format": "jsonl", "source": "scale"}
        stages = [{"dedup": {}}]
    job_path.write_text(json.dumps({"name": f"scale-{kind}", "output": str(out), "input": [entry], "stages": stages}))


def run_jinglian(kind: str, inputs: Path, work: Path, workers: int) -> dict:
    out, job = work / "out", work / "job.yaml"
    work.mkdir(parents=True, exist_ok=True)
    jinglian_job(kind, inputs, out, job)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "jinglian.cli", "run", str(job), "--output", str(out), "--overwrite", "--workers", str(workers)]
    for attempt in range(3):
        try:
            figures, said = measured(cmd, env, work / "run.log")
            break
        except RuntimeError as e:
            # Ray gives its raylet 30 s (fixed) to register; on an overloaded machine it may not: say so, start again
            if "timed out during startup" not in str(e) or attempt == 2:
                raise
            print(f"  (jinglian {kind}: Ray's node timed out during startup, 1-min load {os.getloadavg()[0]:.0f}; run again)")
    figures["ray_start_failures"] = attempt
    stats = json.loads((out / "stats.json").read_text())
    figures["stages"] = {s["name"]: {"wall_s": s.get("wall_s"), "in": s.get("docs_in"), "out": s.get("docs_out")}
                         for s in stats["stages"]}
    figures["kept"] = stats["totals"]["kept"]
    figures["read"] = stats["totals"]["read"]
    figures["failed"] = stats["totals"]["failed"]
    figures["engine"] = next((line for line in said.splitlines() if line.startswith("jinglian: running ")), "on Ray")
    return figures


def run_datatrove(python: str, kind: str, inputs: Path, work: Path, workers: int, language: str) -> dict:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cmd = [python, "-P", os.path.join(os.path.dirname(os.path.abspath(__file__)), "scale_datatrove.py"), kind,
           "--input", str(inputs), "--output", str(work / "out"), "--workers", str(workers), "--language", language]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    figures, said = measured(cmd, env, work / "run.log")
    result = json.loads(next(line for line in said.splitlines() if line.startswith("DATATROVE_RESULT "))[17:])
    figures["stages"] = {name: {"wall_s": s["wall_s"], "steps": s["steps"]} for name, s in result["stages"].items()}
    figures["kept"] = result["kept_after_dedup"]
    figures["kept_after_filter"] = result["kept_after_filter"]
    return figures


# ---------------------------------------------------------------- report

def line(label: str, n: int, f: dict) -> str:
    return (f"  {label:<10}{f['wall_s']:9.1f}{n / f['wall_s']:11.1f}{1000 * f['cpu_s'] / n:12.1f}"
            f"{f['rss'] / 2**20:11.0f}{f['pss'] / 2**20:10.0f}{f['worker_rss'] / 2**20:11.0f}{f['procs']:7d}{f['kept']:9d}")


def report(kind: str, unit: str, size: int, n: int, results: dict, label: str = "") -> None:
    print(f"\n{kind} {size}x{label}: {n} {unit}  (1-min load average now {os.getloadavg()[0]:.1f})")
    print(f"  {'':<10}{'wall s':>9}{unit + '/s':>11}{'CPU s/1k':>12}{'tree RSS':>11}{'tree PSS':>10}{'worker RSS':>11}"
          f"{'procs':>7}{'kept':>9}   (memory in MiB)")
    for side in ("jinglian", "datatrove"):
        if side in results:
            print(line(side, n, results[side]))
    j, d = results.get("jinglian"), results.get("datatrove")
    if j and d:
        print(f"  ratio jinglian/datatrove: {unit}/s {d['wall_s'] / j['wall_s']:.2f}x, CPU per {unit[:-1]} "
              f"{j['cpu_s'] / d['cpu_s']:.2f}x, tree RSS {j['rss'] / d['rss']:.2f}x, worker RSS {j['worker_rss'] / d['worker_rss']:.2f}x")
    if j:
        stages = ", ".join(f"{name} {s['wall_s']:.1f}" for name, s in j["stages"].items() if s["wall_s"] is not None)
        print(f"  jinglian per stage (s, summed over partitions): {stages}; read {j['read']}, kept {j['kept']}, failed {j['failed']}")
        print(f"  jinglian: {j['engine'][:150]}")
    if d:
        stages = ", ".join(f"{name} {s['wall_s']:.1f}" for name, s in d["stages"].items())
        print(f"  datatrove per executor (wall s): {stages}" + (f"; kept after filters {d['kept_after_filter']}"
                                                                 if d.get("kept_after_filter") is not None else ""))
        steps = d["stages"].get("extract_filter", {}).get("steps", {})
        if steps:
            print("  datatrove per step (s, summed over tasks): " + ", ".join(
                f"{name.split(' ', 1)[-1]} {s['time_s']:.1f}" for name, s in steps.items() if s.get("time_s") is not None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,2,4", help="multiples of the 1x input")
    parser.add_argument("--pages", type=int, default=1000, help="WARC records at 1x")
    parser.add_argument("--docs", type=int, default=50000, help="text documents at 1x")
    parser.add_argument("--pages-per-file", type=int, default=PAGES_PER_FILE, help="WARC records per file (a partition)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of both sides per size, alternating which goes first (a shared machine's load drifts)")
    parser.add_argument("--only", choices=["warc", "text"], help="run one of the two benchmarks")
    parser.add_argument("--side", choices=["jinglian", "datatrove"], help="run one side only (e.g. to redo a failed run)")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "jinglian-scale"), help="inputs and outputs (replaced)")
    parser.add_argument("--datatrove-python", default=os.environ.get("DATATROVE_PYTHON"),
                        help="a Python with datatrove[processing] installed (its own venv); default $DATATROVE_PYTHON")
    parser.add_argument("--datatrove-text-language", default="cmn",
                        help="datatrove's word tokenizer for the text corpus (mostly Chinese: cmn, spaCy + jieba)")
    args = parser.parse_args()

    data = bench_data()
    print_machine()
    work = Path(args.work)
    dt = args.datatrove_python if args.datatrove_python and os.path.exists(args.datatrove_python) else None
    if dt is None:
        print(f"datatrove side SKIPPED: no interpreter at {args.datatrove_python!r} "
              "(python3 -m venv VENV && VENV/bin/pip install 'datatrove[processing]' spacy jieba, then --datatrove-python VENV/bin/python)")
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = [args.only] if args.only else ["warc", "text"]
    pool = pieces(data, int(max(sizes) * args.docs * 0.6)) if "text" in kinds else []
    for kind in kinds:
        for size in sizes:
            n = size * (args.pages if kind == "warc" else args.docs)
            inputs = work / f"{kind}-{size}x" / "in"
            if inputs.parent.exists():
                shutil.rmtree(inputs.parent)
            built = build_warc(data, n, inputs, args.pages_per_file) if kind == "warc" else build_text(data, n, inputs, pool)
            print(f"\nbuilt {inputs}: {built}")
            runs = [("jinglian", lambda: run_jinglian(kind, inputs, inputs.parent / "jinglian", args.workers))]
            if dt:
                language = "eng" if kind == "warc" else args.datatrove_text_language
                runs.append(("datatrove", lambda: run_datatrove(dt, kind, inputs, inputs.parent / "datatrove", args.workers, language)))
            rounds = []
            for r in range(args.rounds):
                results = {}
                # each round starts with the other side, so a load that rises or falls through a round hits both
                for side, run in (runs if r % 2 == 0 else runs[::-1]):
                    if args.side and side != args.side:
                        continue
                    try:
                        results[side] = run()
                    except RuntimeError as e:  # a failed run is reported, and the other side and sizes still run
                        print(f"\n{kind} {size}x: {side} FAILED: {str(e)[-600:]}")
                report(kind, "pages" if kind == "warc" else "docs", size, n, results,
                       f", round {r + 1} of {args.rounds}" if args.rounds > 1 else "")
                rounds.append(results)
                sys.stdout.flush()
            (inputs.parent / "figures.json").write_text(json.dumps(rounds if args.rounds > 1 else rounds[0], indent=1))


if __name__ == "__main__":
    main()
