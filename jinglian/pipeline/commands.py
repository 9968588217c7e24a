"""``jinglian run JOB.yaml``: validate a job, run it on Ray, print where the output is."""

from __future__ import annotations

import os
import sys

from jinglian.pipeline.job import JobError, load_job


def register(sub) -> None:
    p = sub.add_parser("run", help="run a curation job (YAML) on Ray")
    p.add_argument("job", help="job file, e.g. jobs/demo.yaml")
    p.add_argument("--output", help="output directory (overrides the job's `output`)")
    p.add_argument("--address", help="Ray cluster to attach to (e.g. 'auto'), whatever the job's size; "
                   "default: $RAY_ADDRESS, else Ray started in this process (small jobs: no Ray)")
    p.add_argument("--workers", type=int, help="workers per stage segment (default: the cluster's CPUs)")
    p.add_argument("--overwrite", action="store_true", help="replace the run in the output directory (only a jinglian run, only its own files)")
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--ray", dest="use_ray", action="store_true", default=None,
                        help="run on Ray even when the job is small (default: small jobs run in this process)")
    engine.add_argument("--no-ray", dest="use_ray", action="store_false",
                        help="run every partition in this process (debugging; cannot be combined with --address)")
    p.add_argument("--verbose", action="store_true", help="show Ray's own log lines here (default: <output>/_logs/ray.log)")
    p.add_argument("--batch-size", type=int, default=256, help="documents per batch through the stages")
    p.add_argument("--object-store-mb", type=int, help="object store of an in-process Ray (default: 128 MiB; data travels as files)")
    p.add_argument("--check", action="store_true", help="only validate the job file")
    p.set_defaults(func=run_command)


def run_command(args) -> int:
    from jinglian.pipeline.output_guard import keep_locks

    with keep_locks():  # the run's lock on its output lasts until the card and the pretraining are written too
        return _run_command(args)


def _run_command(args) -> int:
    from jinglian.pipeline.executor import RunOptions, run_job

    try:
        job = load_job(args.job, output=args.output)
        if args.check:
            print(f"{args.job}: ok ({len(job.inputs)} inputs, stages: {', '.join(s.name for s in job.stages)})")
            return 0
        options = RunOptions(
            address=args.address,
            use_ray=args.use_ray,
            workers=args.workers,
            overwrite=args.overwrite,
            batch_size=args.batch_size,
            object_store_mb=args.object_store_mb,
            verbose=args.verbose,
        )
        stats = run_job(job, options)
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(job.output, stats)
    if job.pretrain is not None:
        pretrain_on_shards(job)
    if job.card is not None:
        from dataclasses import asdict

        from jinglian.cards.card import build_card

        _, path = build_card(job.output, storage_options=job.output_storage_options, **asdict(job.card))
        print(f"dataset card: {path if '://' in path else os.path.abspath(path)}")  # a bucket's card: its URL
    return 0


def print_summary(output: str, stats: dict) -> None:
    print()
    print(f"{'stage':<18}{'in':>9}{'out':>9}{'rejected':>10}{'failed':>8}{'added':>7}{'wall s':>9}  top reasons")
    for s in stats["stages"]:
        top = sorted(s["reasons"].items(), key=lambda kv: -kv[1])[:3]
        reasons = ", ".join(f"{k} {v}" for k, v in top)
        print(
            f"{s['name']:<18}{s['docs_in']:>9}{s['docs_out']:>9}{s['rejected']:>10}{s['failed']:>8}"
            f"{s['added']:>7}{s['wall_s']:>9.2f}  {reasons}"
        )
    t = stats["totals"]
    print(f"\ntotals: read {t['read']} = kept {t['kept']} + rejected {t['rejected']} + failed {t['failed']}")
    where = output if "://" in output else os.path.abspath(output)  # a bucket URL stays as it is
    print(f"output: {where}  (docs/, rejected/, errors/, stats.json)")


def pretrain_on_shards(job) -> None:
    """Train (one process) on this run's token shards; checkpoints and the loss curve go to <output>/pretrain."""
    from jinglian.pretrain.after_run import pretrain_after_run

    p = job.pretrain
    pretrain_after_run(p.config, job.output, steps=p.steps, continue_from=p.continue_from)
