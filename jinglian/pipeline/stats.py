"""stats.json: what happened to every document, per stage, per source, in total.

Layout (other tools, e.g. dataset cards, read it)::

    job:        name, file, fingerprint
    partitions: number of partitions
    wall_s:     run wall time
    stages:     [{name, docs_in, docs_out, added, rejected, failed, bytes_in, bytes_out,
                  wall_s, reasons: {reason: n}, extra: {...}, prepare: {...barrier stats}}]
    read:       {docs: input records read, errors: records the readers could not read}
    sources:    {source: {kept, rejected, failed, chars}}
    langs:      {lang: {docs, chars}}   (kept documents)
    reasons:    {reason: n} over all stages
    totals:     {read, kept, rejected, failed}   with read == kept + rejected + failed
"""

from __future__ import annotations

from collections import Counter

from jinglian.pipeline.apply import StageCounts


class AccountingError(RuntimeError):
    """The invariant read == kept + rejected + failed does not hold: a document was lost."""


def build_stats(job, segments, part_results: list[dict], barrier_stats: dict[int, dict], wall_s: float) -> dict:
    stage_counts = [StageCounts() for _ in job.stages]
    final_segment = len(segments) - 1
    read = 0
    outcomes = Counter()
    sources: dict[str, Counter] = {}
    langs: dict[str, Counter] = {}
    for result in part_results:
        _, indices = segments[result["segment"]]
        for i, d in zip(indices, result["stages"]):
            stage_counts[i].merge(StageCounts.from_dict(d))
        if result["segment"] == 0:
            read += result["read"]
        if result["segment"] == final_segment:
            outcomes.update(result["outcomes"])
            for name, counts in result["sources"].items():
                sources.setdefault(name, Counter()).update(counts)
            for name, counts in result["langs"].items():
                langs.setdefault(name, Counter()).update(counts)
    stages = []
    reasons = Counter()
    for i, (spec, counts) in enumerate(zip(job.stages, stage_counts)):
        entry = {"name": spec.name, **counts.to_dict()}
        if i in barrier_stats:
            entry["prepare"] = barrier_stats[i]
        stages.append(entry)
        reasons.update(counts.reasons)
    added = sum(c.added for c in stage_counts)
    failed_on_read = outcomes["failed"] - sum(c.failed for c in stage_counts)
    totals = {
        "read": read + added,
        "kept": outcomes["kept"],
        "rejected": outcomes["rejected"],
        "failed": outcomes["failed"],
    }
    stats = {
        "job": {"name": job.name, "file": job.file, "fingerprint": job.fingerprint()},
        "partitions": len({r["part"] for r in part_results}),
        "wall_s": round(wall_s, 3),
        "stages": stages,
        "read": {"docs": read, "errors": failed_on_read},
        "sources": {k: dict(v) for k, v in sorted(sources.items())},
        "langs": {k: dict(v) for k, v in sorted(langs.items())},
        "reasons": dict(sorted(reasons.items())),
        "totals": totals,
    }
    if totals["read"] != totals["kept"] + totals["rejected"] + totals["failed"]:
        raise AccountingError(f"documents lost: {totals}")
    return stats
