"""The datatrove side of ``benchmarks/scale.py``: run in datatrove's own Python (its own venv).

datatrove's ``processing`` extra pins a trafilatura that conflicts with ours, so this file
imports nothing from jinglian and is started by ``scale.py`` as a child process with
``--datatrove-python``. It runs the pipeline FineWeb published (minus the URL block list,
which the jinglian job has no counterpart for) with ``LocalPipelineExecutor`` and prints one
JSON line: per stage wall seconds, datatrove's own per-step time and counts.

    warc: WarcReader -> Trafilatura(favour_precision) -> LanguageFilter(en, zh) -> Gopher
          repetition -> Gopher quality -> C4 quality -> FineWeb quality -> JsonlWriter, then
          MinhashDedupSignature -> Buckets -> Cluster -> Filter (JsonlWriter)
    text: JsonlReader -> the same four MinHash stages
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time


def _language_filter(path: str):
    """datatrove's LanguageFilter on a local lid.176 file (no download: this machine is offline). The URL
    is set on the instance, which is pickled to the worker processes (a class attribute set here is not)."""
    from datatrove.pipeline.filters import LanguageFilter

    step = LanguageFilter(languages=["en", "zh"])
    step.model.MODEL_URL = "file://" + os.path.abspath(path)
    return step


def _step_stats(logging_dir: str) -> dict:
    """datatrove's merged stats of one executor: per pipeline step, its time and counters."""
    path = os.path.join(logging_dir, "stats.json")
    if not os.path.exists(path):
        return {}
    out = {}
    for step in json.load(open(path)):
        name = step.get("name", "?")
        time_s = step.get("time_stats", {}).get("total") if isinstance(step.get("time_stats"), dict) else None
        counters = {k: (v["total"] if isinstance(v, dict) else v) for k, v in step.get("stats", {}).items()}
        out[name] = {"time_s": time_s, **counters}
    return out


def _count_lines(pattern: str) -> int:
    import gzip

    total = 0
    for path in glob.glob(pattern, recursive=True):
        with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as f:
            total += sum(1 for _ in f)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["warc", "text"])
    parser.add_argument("--input", required=True, help="folder of *.warc.gz (warc) or *.jsonl (text)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lid-model", default=os.path.expanduser("~/.cache/jinglian/lid.176.ftz"))
    parser.add_argument("--language", default="eng", help="word tokenizer of the filters and MinHash (eng, cmn)")
    parser.add_argument("--timeout", type=float, default=10.0, help="extraction limit per page (jinglian's: 10 s)")
    args = parser.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    out = os.path.abspath(args.output)
    files = sorted(glob.glob(os.path.join(args.input, "*.warc.gz" if args.kind == "warc" else "*.jsonl")))
    tasks = len(files)
    stages: dict = {}

    def run(name: str, pipeline: list, n_tasks: int) -> None:
        start = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=n_tasks, workers=min(args.workers, n_tasks),
                              logging_dir=os.path.join(out, "logs", name), skip_completed=False).run()
        stages[name] = {"wall_s": time.perf_counter() - start, "steps": _step_stats(os.path.join(out, "logs", name))}

    if args.kind == "warc":
        from datatrove.pipeline.extractors import Trafilatura
        from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                                GopherRepetitionFilter)

        lang = args.language
        run("extract_filter", [
            WarcReader(args.input, glob_pattern="*.warc.gz"),
            Trafilatura(favour_precision=True, timeout=args.timeout),
            _language_filter(args.lid_model),
            GopherRepetitionFilter(language=lang),
            GopherQualityFilter(language=lang),
            C4QualityFilter(filter_no_terminal_punct=False, language=lang),
            FineWebQualityFilter(language=lang),
            JsonlWriter(os.path.join(out, "filtered"), compression=None),
        ], tasks)
        dedup_input = JsonlReader(os.path.join(out, "filtered"), compression=None)
        dedup_tasks = tasks
    else:
        dedup_input = JsonlReader(args.input, glob_pattern="*.jsonl", compression=None)
        dedup_tasks = tasks

    config = MinhashConfig()
    mh = os.path.join(out, "minhash")
    run("minhash_signatures", [dedup_input, MinhashDedupSignature(os.path.join(mh, "signatures"), config=config,
                                                                    language=args.language)], dedup_tasks)
    run("minhash_buckets", [MinhashDedupBuckets(os.path.join(mh, "signatures"), os.path.join(mh, "buckets"),
                                                config=config)], config.num_buckets)
    run("minhash_cluster", [MinhashDedupCluster(os.path.join(mh, "buckets"), os.path.join(mh, "remove_ids"),
                                                config=config)], 1)
    reader = (JsonlReader(os.path.join(out, "filtered"), compression=None) if args.kind == "warc"
              else JsonlReader(args.input, glob_pattern="*.jsonl", compression=None))
    run("minhash_filter", [reader, MinhashDedupFilter(os.path.join(mh, "remove_ids")),
                           JsonlWriter(os.path.join(out, "deduped"), compression=None)], dedup_tasks)

    result = {"stages": stages, "kept_after_filter": _count_lines(os.path.join(out, "filtered", "*.jsonl"))
              if args.kind == "warc" else None,
              "kept_after_dedup": _count_lines(os.path.join(out, "deduped", "*.jsonl"))}
    print("DATATROVE_RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
