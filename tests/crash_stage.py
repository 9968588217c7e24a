"""A plugin stage for tests: kills its own worker process (as a native crash would) on a marked document."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage


@dataclass
class CrashParams:
    marker: str = "CRASH-ME"  # a document containing this kills the process that processes it


class CrashOnMarkerStage(Stage):
    name: ClassVar[str] = "crash_on_marker"
    Params: ClassVar[type] = CrashParams

    def process(self, batch: pa.Table) -> pa.Table:
        if any(self.params.marker in (text or "") for text in batch[D.TEXT].to_pylist()):
            os.kill(os.getpid(), signal.SIGKILL)
        return batch
