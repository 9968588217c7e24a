"""Kill a real run mid-way (driver and its in-process Ray), re-run, and get byte-identical output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.helpers import snapshot, write_job, write_jsonl

pytestmark = pytest.mark.slow


def run_cmd(job, output, *extra):
    return [sys.executable, "-m", "jinglian.cli", "run", job, "--output", output, "--ray", "--workers", "1", *extra]


def wait_for_session_to_end(sid: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = []
        for p in psutil.process_iter():
            try:
                if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except (OSError, psutil.Error):
                continue
        if not alive:
            return
        for p in alive:
            p.kill()
        time.sleep(0.2)


def test_killed_run_resumes_to_identical_output(tmp_path):
    for f in range(16):
        write_jsonl(
            tmp_path / "in" / f"f{f:02d}.jsonl",
            [{"text": f"文件{f} 第{i}行。" * 20 + ("\x00" if i % 9 == 0 else "")} for i in range(4000)] + ["{broken"],
        )
    job = write_job(tmp_path / "job.yaml", name="resume", output="unused", input=[{"path": str(tmp_path / "in"), "format": "jsonl"}],
                    stages=[{"normalize": {"min_chars": 30}}])
    clean, killed = str(tmp_path / "clean"), str(tmp_path / "killed")
    subprocess.run(run_cmd(job, clean), check=True, capture_output=True, timeout=300)

    proc = subprocess.Popen(run_cmd(job, killed), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    parts = os.path.join(killed, "_parts")
    deadline = time.time() + 240
    def committed_parts() -> int:  # markers only, not a marker's hidden temporary
        return sum(1 for n in os.listdir(parts) if n.startswith("part-")) if os.path.isdir(parts) else 0

    while time.time() < deadline and committed_parts() < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_for_session_to_end(proc.pid)  # Ray workers of the killed driver may outlive it for a moment
    committed = committed_parts()
    assert 3 <= committed < 16, f"kill came too late or too early: {committed} partitions committed"

    resumed = subprocess.run(run_cmd(job, killed), check=True, capture_output=True, text=True, timeout=300)
    assert f"{16 - committed} partitions to run, {committed} already committed" in resumed.stdout
    assert snapshot(killed) == snapshot(clean)
