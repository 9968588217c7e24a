"""Writers killed mid-write (SIGKILL: no cleanup runs) leave no stray temporary behind the next write or run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from jinglian.core.atomic import TEMP_MARK, write_bytes_atomic
from jinglian.pipeline.executor import RunOptions, run_job
from jinglian.pipeline.job import load_job
from tests.helpers import write_job, write_jsonl

# Writes through core's atomic write, says so once the temporary holds data, then waits to be killed.
WRITER = """
import sys, time
from jinglian.core.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp, open(tmp, "wb") as f:
    f.write(b"half a file" * 1000)
    f.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


def start_writer(path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "writing"
    return proc


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def temporaries(directory) -> list[str]:
    return sorted(name for _, _, files in os.walk(directory) for name in files if TEMP_MARK in name)


def test_a_killed_writer_leaves_only_a_hidden_temporary_which_the_next_write_removes(tmp_path):
    target = tmp_path / "models" / "model.bin"
    kill(start_writer(target))
    assert not target.exists()  # readers never see half a file
    left = temporaries(tmp_path)
    assert len(left) == 1 and left[0].startswith(".model.bin")  # hidden from globbing readers

    live = start_writer(target)  # a writer still running keeps its temporary
    try:
        write_bytes_atomic(str(target), b"whole")
        assert target.read_bytes() == b"whole"
        assert len(temporaries(tmp_path)) == 1  # only the live writer's
    finally:
        kill(live)
    write_bytes_atomic(str(target), b"again")
    assert temporaries(tmp_path) == [] and target.read_bytes() == b"again"


def test_the_next_run_removes_temporaries_of_writers_killed_in_its_output(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": f"第{i}篇文档，内容足够长。" * 5} for i in range(50)])
    job_file = write_job(tmp_path / "job.yaml", name="atomic", output=str(tmp_path / "out"),
                         input=[{"path": str(tmp_path / "in"), "format": "jsonl"}], stages=[{"normalize": {}}])
    run_job(load_job(job_file), RunOptions(use_ray=False, quiet=True))
    out = tmp_path / "out"
    for path in (out / "stats.json", out / "docs" / "part-00000.parquet", out / "_parts" / "part-00000.json"):
        kill(start_writer(path))
    assert len(temporaries(out)) == 3

    run_job(load_job(job_file), RunOptions(use_ray=False, quiet=True))
    assert temporaries(out) == []
    assert (out / "stats.json").read_text().startswith("{")
