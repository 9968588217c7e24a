"""Checks a run makes on the driver before it touches its output or starts Ray."""

from __future__ import annotations

import os

from jinglian.pipeline.job import Job, JobError
from jinglian.core.context import RunContext
from jinglian.core.stage import Stage


def check_stages(job: Job) -> None:
    """Call every stage's :meth:`Stage.check`; the first problem stops the run with one message naming the stage."""
    for index, spec in enumerate(job.stages):
        if spec.cls.check is Stage.check:
            continue  # nothing to check: do not even build the stage
        context = RunContext(output_dir=job.output, work_dir=os.path.join(job.output, "_work", f"stage-{spec.name}"),
                             seed=job.seed)
        try:
            spec.cls(spec.params, context).check()
        except (OSError, ValueError, ImportError) as exc:
            raise JobError(f"{job.file}: stages[{index}].{spec.name}: {exc}; nothing was run") from None
