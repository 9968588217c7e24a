"""What a stage may know about the run it is part of."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class RunContext:
    """What a stage may know about the run it is part of."""

    output_dir: str
    work_dir: str  # scratch space for this stage (state of a barrier, caches)
    job_dir: str = "."  # relative paths in params resolve here (the working directory of the run)
    seed: int = 0

    def resolve(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.job_dir, path)
