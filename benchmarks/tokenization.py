"""Tokenize stage vs HF ``tokenizers``' batch encoding: same texts, same number of workers, wall clock.

    python benchmarks/tokenization.py [--tokenizer chinese-llama2-tokenizer.model] [--workers 2] [--with-laws]

Texts (real, from ``../shared/bench-data``): the zh-wiki paragraphs, the d2l textbook chapters
(Chinese prose with code and LaTeX) and the English texts cut into ~2,000-character documents;
``--with-laws`` adds the 3,476 laws. They are written once as Parquet files (``--files`` of them,
one source per corpus), which both sides read.

- **ours**: ``jinglian run`` of the job ``parquet -> tokenize`` (Megatron shards, manifest, blend,
  the curated docs with ``num_tokens``), two ways, in the same alternating rounds:
  ``--no-ray`` (in this process, the stage encoding on ``--workers`` SentencePiece threads) and on
  Ray with ``--workers`` actors (one encoding thread each) on a Ray instance started before timing
  (as in a pipeline whose earlier stages ran). Also printed: the stage's own share of the Ray runs
  (its ``process()`` seconds over the partitions / workers + ``after_run``), what it adds to a
  segment whose actors already run. ``--workers 1``: in-process only.
- **baseline**: what datatrove's ``DocumentTokenizer`` does, in one process: a ``tokenizers.Tokenizer``
  loaded from a ``tokenizer.json`` (the same SentencePiece model as a ``tokenizers`` BPE with byte
  fallback, the layout of transformers' Llama conversion, built before timing), each file's texts
  through ``encode_batch_fast`` on ``--workers`` Rayon threads, EOD appended, ids written as uint16.

Both are timed from their work's start (imports and Ray's start excluded) to their last file
written, alternating, best of ``--rounds``. Also printed: CPU seconds per million tokens of one
thread of each encoder alone (load-independent), and how many documents' ids the ``tokenizers``
BPE gets identical to SentencePiece's (ours are SentencePiece's by construction; the token totals
are checked against ``SentencePieceProcessor.encode``). ``--cold``: both as whole commands from a
fresh process (imports and, for ours on Ray, Ray's start included): the baseline script against
``jinglian run`` as a user types it (the engine chosen from the job's size: the reason it gives
is printed), with ``--no-ray`` and with ``--ray``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, bench_data, print_machine  # noqa: E402
from tokenize_run import run_ours, write_inputs, write_job  # noqa: E402

sys.path.insert(0, str(REPO))
from jinglian.tokenizers.model import load_proto  # noqa: E402

SENTENCEPIECE_NORMAL = 1  # ModelProto.SentencePiece.Type.NORMAL


def load_corpora(data, with_laws: bool) -> dict[str, list[str]]:
    """source -> texts."""
    out: dict[str, list[str]] = {}
    with open(data / "zh-wiki-mrc" / "unique_wiki_paragraphs.jsonl", encoding="utf-8") as f:
        out["zh-wiki"] = [json.loads(line)["text"] for line in f if line.strip()]
    with open(data / "zh-tech-d2l" / "d2l-zh_chapters.jsonl", encoding="utf-8") as f:
        out["d2l-code"] = [json.loads(line)["text"] for line in f if line.strip()]
    english = []
    for path in sorted((data / "english-text").glob("*.txt")):
        chunk: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            chunk.append(line)
            if sum(map(len, chunk)) >= 2000:
                english.append("\n".join(chunk))
                chunk = []
        if chunk:
            english.append("\n".join(chunk))
    out["english"] = english
    if with_laws:
        with gzip.open(data / "zh-laws-lawrefbook" / "laws.jsonl.gz", "rt", encoding="utf-8") as f:
            out["zh-laws"] = [json.loads(line)["text"] for line in f]
    return out


def hf_tokenizer_json(model_path: str, out_path: str) -> None:
    """The SentencePiece BPE model as a ``tokenizers`` BPE, laid out as transformers' Llama conversion:
    the pieces as vocabulary, merges of every two pieces that make a third, by the third's score,
    byte fallback, no pre-tokenizer, a "▁" prepended and spaces as "▁"."""
    from tokenizers import Tokenizer, models, normalizers

    proto = load_proto(model_path)
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    merges = []
    for i, p in enumerate(proto.pieces):
        if p.type != SENTENCEPIECE_NORMAL:
            continue
        for k in range(1, len(p.piece)):
            left, right = p.piece[:k], p.piece[k:]
            if left in vocab and right in vocab:
                merges.append((-p.score, i, vocab[left], vocab[right], left, right))
    merges.sort()
    unk = proto.pieces[proto.trainer_spec.unk_id].piece
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(m[4], m[5]) for m in merges], unk_token=unk,
                               fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.save(out_path)


BASELINE = r"""
import json, os, sys, time
import numpy as np, pyarrow.parquet as pq
from tokenizers import Tokenizer
tokenizer_json, eod, out_dir, inputs = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
start, cpu = time.perf_counter(), time.process_time()
tok = Tokenizer.from_file(tokenizer_json)
total = 0
for n, path in enumerate(inputs):
    texts = pq.read_table(path, columns=["text"])["text"].to_pylist()
    encoded = tok.encode_batch_fast(texts, add_special_tokens=False)
    ids = np.concatenate([np.append(np.asarray(e.ids, np.uint16), np.uint16(eod)) for e in encoded])
    ids.tofile(os.path.join(out_dir, f"{n:05d}.bin"))
    total += ids.size
print(json.dumps({"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "tokens": int(total)}))
"""


def run_baseline(tokenizer_json: str, eod: int, inputs: list[str], out_dir: str, workers: int) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    env = {**os.environ, "RAYON_NUM_THREADS": str(workers), "TOKENIZERS_PARALLELISM": "true"}
    result = subprocess.run([sys.executable, "-c", BASELINE, tokenizer_json, str(eod), out_dir, json.dumps(inputs)],
                            capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def cold_runs(job_path: str, tokenizer_json: str, eod: int, inputs: list[str], tmp: str, workers: int, rounds: int) -> None:
    """Whole commands from a fresh process, alternating: the baseline script and ``jinglian run`` as a
    user types it (engine by the job's size), with ``--no-ray`` and with ``--ray`` (Ray started by the run)."""
    env = {**os.environ, "RAYON_NUM_THREADS": str(workers), "PYTHONPATH": str(REPO)}
    ways = {"baseline script": None, "jinglian run (default)": [], "jinglian run --no-ray": ["--no-ray"],
            "jinglian run --ray": ["--ray"]}
    times: dict[str, list[float]] = {name: [] for name in ways}
    chosen = ""
    for r in range(rounds):
        for i, (name, flags) in enumerate(ways.items()):
            out_dir = os.path.join(tmp, f"cold-{r}-{i}")
            if flags is None:
                os.makedirs(out_dir)
                command = [sys.executable, "-c", BASELINE, tokenizer_json, str(eod), out_dir, json.dumps(inputs)]
            else:
                command = [sys.executable, "-m", "jinglian.cli", "run", job_path, "--output", out_dir,
                           "--workers", str(workers), *flags]
            start = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(REPO))
            times[name].append(time.perf_counter() - start)
            assert result.returncode == 0, result.stderr[-2000:]
            if flags == []:
                chosen = next(line for line in result.stdout.splitlines() if line.startswith("jinglian: running"))
            shutil.rmtree(out_dir)
    base = min(times["baseline script"])
    print(f"\n[4] whole commands from a fresh process (imports; Ray's start where it runs), best of {rounds} alternating:")
    print(f"    the default run says: {chosen!r}")
    for name, runs in times.items():
        ratio = "" if name == "baseline script" else f" -> {base / min(runs):.2f}x the baseline's speed"
        print(f"    {name:24s} {min(runs):6.2f} s   runs: {', '.join(f'{x:.2f}' for x in runs)}{ratio}")


def encoder_cpu(texts: list[str], model: str, tokenizer_json: str) -> None:
    """One thread of each encoder, CPU seconds per million tokens (load hardly changes CPU time)."""
    import sentencepiece as spm

    code = (
        "import sys, time, pyarrow as pa\n"
        "from tokenizers import Tokenizer\n"
        "texts = pa.ipc.open_file(sys.argv[2]).read_all()['text'].to_pylist()\n"
        "tok = Tokenizer.from_file(sys.argv[1])\n"
        "cpu = time.process_time()\n"
        "n = sum(len(e.ids) for e in tok.encode_batch_fast(texts, add_special_tokens=False))\n"
        "print(time.process_time() - cpu, n)\n"
    )
    arrow = tokenizer_json + ".texts.arrow"
    with pa.OSFile(arrow, "wb") as sink, pa.ipc.new_file(sink, pa.schema([("text", pa.string())])) as w:
        w.write_table(pa.table({"text": texts}))
    sp = spm.SentencePieceProcessor(model_file=model)
    data = [t.encode() for t in texts]
    sp_cpu = hf_cpu = float("inf")
    for _ in range(2):
        cpu = time.process_time()
        n_sp = sum(len(x) for x in sp.encode(data, out_type="numpy", num_threads=1))
        sp_cpu = min(sp_cpu, time.process_time() - cpu)
        out = subprocess.run([sys.executable, "-c", code, tokenizer_json, arrow], capture_output=True, text=True,
                             env={**os.environ, "RAYON_NUM_THREADS": "1"}, check=True).stdout.split()
        hf_cpu, n_hf = min(hf_cpu, float(out[0])), int(out[1])
    print(f"\n[1] one thread, CPU s per million tokens: SentencePiece {sp_cpu * 1e6 / n_sp:.3f} ({n_sp:,} tokens), "
          f"tokenizers BPE {hf_cpu * 1e6 / n_hf:.3f} ({n_hf:,} tokens) -> tokenizers / SentencePiece {hf_cpu / sp_cpu * n_sp / n_hf:.2f}x")


def same_ids(corpora: dict[str, list[str]], model: str, tokenizer_json: str) -> int:
    """Per source: documents whose ``tokenizers`` ids equal SentencePiece's; returns SentencePiece's total with EOD."""
    import sentencepiece as spm
    from tokenizers import Tokenizer

    sp = spm.SentencePieceProcessor(model_file=model)
    tok = Tokenizer.from_file(tokenizer_json)
    total = 0
    print("\n[2] ids of the tokenizers BPE vs SentencePiece, documents identical:")
    for source, texts in corpora.items():
        want = sp.encode(texts)
        got = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
        same = sum(a == b for a, b in zip(want, got))
        total += sum(map(len, want)) + len(texts)
        print(f"    {source:9s} {same:6,} / {len(texts):6,} ({100 * same / len(texts):.1f}%)")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default="chinese-llama2-tokenizer.model", help="file in bench-data/tokenizers")
    ap.add_argument("--workers", type=int, default=2, help="workers of each side (1: ours in-process only)")
    ap.add_argument("--files", type=int, default=8, help="Parquet input files (partitions)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--with-laws", action="store_true", help="add the 3,476 zh-laws documents")
    ap.add_argument("--cold", action="store_true", help="also time both as whole commands from a fresh process")
    ap.add_argument("--cold-rounds", type=int, default=2)
    args = ap.parse_args()
    data = bench_data()
    print_machine()
    print("load average (1, 5, 15 min) at the start: %.1f %.1f %.1f" % os.getloadavg())
    from shards import cpu_share_check

    print("[0] CPU available to this session (an idle 2-core machine gives ~3 and ~6 CPU s):")
    cpu_share_check()
    model = str(data / "tokenizers" / args.tokenizer)
    corpora = load_corpora(data, args.with_laws)
    tmp = tempfile.mkdtemp(prefix="jinglian-tokenize-")
    try:
        inputs = write_inputs(corpora, os.path.join(tmp, "in"), args.files)
        tokenizer_json = os.path.join(tmp, "tokenizer.json")
        hf_tokenizer_json(model, tokenizer_json)
        import sentencepiece as spm

        eod = spm.SentencePieceProcessor(model_file=model).eos_id()
        encoder_cpu([t for texts in corpora.values() for t in texts], model, tokenizer_json)
        want_tokens = same_ids(corpora, model, tokenizer_json)
        job = write_job(os.path.join(tmp, "job.yaml"), inputs, model, os.path.join(tmp, "unused"))
        # in this process: as many encoding threads as the other side has workers (the default, 0,
        # takes every CPU of the process: the same on a machine with --workers CPUs)
        job_here = write_job(os.path.join(tmp, "job-here.yaml"), inputs, model, os.path.join(tmp, "unused"),
                             num_threads=args.workers)

        import ray

        # Ray starts workers at nice 15; the baseline runs at nice 0: the same priority for both.
        os.environ.setdefault("RAY_worker_niceness", "0")
        if args.workers > 1:
            ray.init(address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        ways = ["HF", "here"] + (["ray"] if args.workers > 1 else [])
        wall: dict[str, list[float]] = {w: [] for w in ways}
        cpu: dict[str, list[float]] = {w: [] for w in ways}
        own = []
        try:
            for r in range(args.rounds):
                b = run_baseline(tokenizer_json, eod, [p for _, p in inputs], os.path.join(tmp, f"base-{r}"), args.workers)
                wall["HF"].append(b["wall_s"])
                cpu["HF"].append(b["cpu_s"])
                shutil.rmtree(os.path.join(tmp, f"base-{r}"))
                for way in ways[1:]:
                    output = os.path.join(tmp, f"ours-{way}-{r}")
                    seconds, cpu_s, stage = run_ours(job_here if way == "here" else job, output, args.workers,
                                                     use_ray=way == "ray")
                    wall[way].append(seconds)
                    cpu[way].append(cpu_s)
                    tokens = stage["prepare"]["tokens"]
                    assert tokens == want_tokens, (tokens, want_tokens)
                    if way == "ray":
                        # the stage's own share: its process() seconds summed over partitions, spread over the
                        # workers, plus after_run on the driver (what it adds to a segment already running)
                        own.append(stage["wall_s"] / args.workers + stage["prepare"]["wall_s"])
                    shutil.rmtree(output)
        finally:
            ray.shutdown()
        docs = sum(map(len, corpora.values()))
        best = {w: min(x) for w, x in wall.items()}
        runs = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
        names = {"HF": f"HF tokenizers encode_batch_fast, {args.workers} threads",
                 "here": f"jinglian run --no-ray, {args.workers} encoding threads",
                 "ray": f"jinglian run on Ray, {args.workers} actors"}
        print(f"\n[3] {docs:,} documents ({', '.join(f'{s} {len(t):,}' for s, t in corpora.items())}), "
              f"{want_tokens:,} tokens with EOD, {len(inputs)} Parquet files, tokenizer {args.tokenizer}, "
              f"{args.workers} workers, best of {args.rounds} alternating rounds (CPU s: ours the whole process tree)")
        for way in ways:
            print(f"    {names[way]:44s} {best[way]:6.2f} s {want_tokens / best[way]:12,.0f} tokens/s"
                  f"   runs: {runs(wall[way])} (CPU s: {runs(cpu[way])})")
        if own:
            print(f"    tokenize's own time in the Ray runs (process() summed over partitions / {args.workers} + after_run): "
                  f"{runs(own)} -> HF / that: {best['HF'] / min(own):.2f}x")
        print("    -> jinglian / HF tokens/s (done when >= 1.0): " + ", ".join(
            f"{w} {best['HF'] / best[w]:.2f}x (CPU {min(cpu['HF']) / min(cpu[w]):.2f}x)" for w in ways[1:]))
        if args.cold:
            cold_runs(job, tokenizer_json, eod, [p for _, p in inputs], tmp, args.workers, args.cold_rounds)
        print("\nload average (1, 5, 15 min) at the end: %.1f %.1f %.1f" % os.getloadavg())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
