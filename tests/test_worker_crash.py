"""A partition that kills its worker process on every try fails its documents with a named error; the run goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from jinglian.pipeline.job import JobError, load_job
from tests.helpers import write_job, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "tests.crash_stage:CrashOnMarkerStage"


def crash_job(tmp_path):
    for f in range(3):
        docs = [{"id": f"f{f}-{i}", "text": f"第{f}个文件的第{i}篇文档，句子完整。"} for i in range(5)]
        if f == 1:
            docs[2]["text"] += " CRASH-ME"
        write_jsonl(tmp_path / "in" / f"f{f}.jsonl", docs)
    return write_job(tmp_path / "job.yaml", name="crash", output="unused",
                     input=[{"path": str(tmp_path / "in" / "*.jsonl"), "format": "jsonl"}],
                     stages=[{"normalize": {}}, {PLUGIN: {}}])


@pytest.mark.slow
def test_a_partition_that_keeps_killing_its_worker_is_failed_not_retried_forever(tmp_path):
    job = crash_job(tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "jinglian.cli", "run", job, "--output", str(out),
                             "--ray", "--workers", "2"], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    totals = json.loads((out / "stats.json").read_text())["totals"]
    assert totals["read"] == 15 and totals["kept"] == 10 and totals["failed"] == 5, totals
    errors = pq.read_table(out / "errors").to_pylist()
    assert sorted(r["id"] for r in errors) == [f"f1-{i}" for i in range(5)]
    assert all("WorkerCrashed: the worker process died 3 times" in r["error"] for r in errors)
    kept = pq.read_table(out / "docs").column("id").to_pylist()
    assert sorted(kept) == sorted(f"f{f}-{i}" for f in (0, 2) for i in range(5))


def test_plugin_stages_are_named_by_import_path(tmp_path):
    job = load_job(crash_job(tmp_path))
    assert [s.name for s in job.stages] == ["normalize", PLUGIN]
    bad = write_job(tmp_path / "bad.yaml", name="x", output="unused",
                    input=[{"path": str(tmp_path / "in" / "*.jsonl"), "format": "jsonl"}],
                    stages=[{"tests.crash_stage:Nope": {}}])
    with pytest.raises(JobError, match="cannot be imported"):
        load_job(bad)
    not_stage = write_job(tmp_path / "ns.yaml", name="x", output="unused",
                          input=[{"path": str(tmp_path / "in" / "*.jsonl"), "format": "jsonl"}],
                          stages=[{"tests.crash_stage:CrashParams": {}}])
    with pytest.raises(JobError, match="not a jinglian Stage"):
        load_job(not_stage)
