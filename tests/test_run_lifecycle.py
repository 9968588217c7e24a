"""A run's start and end: a stage that cannot set up stops it before anything runs, and no Ray
process of a run outlives it, even when its driver is killed (real processes, real Ray)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import psutil
import pytest

from jinglian.pipeline.executor import RunOptions, run_job
from jinglian.pipeline.job import JobError, load_job
from jinglian.stages import STAGES
from jinglian.core.stage import Stage
from tests.helpers import write_job, write_jsonl

CLI = [sys.executable, "-m", "jinglian.cli", "run"]


@pytest.fixture
def small_job(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": f"第{i}篇文档，内容足够长。" * 4} for i in range(30)])
    write_jsonl(tmp_path / "in" / "b.jsonl", [{"text": f"document {i} in English with enough words"} for i in range(30)])

    def make(stages, name="job"):
        return write_job(tmp_path / f"{name}.yaml", name=name, output=str(tmp_path / "out"),
                         input=[{"path": str(tmp_path / "in"), "format": "jsonl"}], stages=stages)
    return make


@pytest.mark.parametrize("engine", ["--ray", "--no-ray"])
def test_missing_language_model_stops_the_run_before_anything_runs(small_job, tmp_path, engine):
    missing = str(tmp_path / "models" / "lid.176.ftz")
    job = small_job([{"normalize": {}}, {"langid": {"model_path": missing}}])
    result = subprocess.run([*CLI, job, engine], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "langid" in lines[0] and missing in lines[0], result.stderr
    assert "Ray" not in result.stdout + result.stderr  # Ray never started, and said nothing
    assert not (tmp_path / "out").exists()  # nothing was written, not even the run marker


def test_a_file_that_is_not_a_model_is_named_before_anything_runs(small_job, tmp_path):
    bogus = tmp_path / "quality.bin"
    bogus.write_text("not a model")
    job = small_job([{"quality": {"model": str(bogus)}}])
    result = subprocess.run([*CLI, job, "--ray"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not a fastText model file" in result.stderr and str(bogus) in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_tokenizer_is_named_before_the_first_segment_runs(small_job, tmp_path):
    """Without the check, the stages before tokenize ran on every partition before its setup failed."""
    missing = str(tmp_path / "tok" / "zh.model")
    job = small_job([{"normalize": {}}, {"tokenize": {"tokenizer": missing}}])
    result = subprocess.run([*CLI, job, "--no-ray"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"tokenizer model not found: {missing}" in result.stderr
    assert not (tmp_path / "out").exists()


@dataclass
class _Params:
    resource: str = ""


class NeedsResource(Stage):
    """A stage whose check fails: neither its setup nor its process may ever run."""

    name = "needs_resource"
    Params = _Params
    calls: list = []

    def check(self):
        if not os.path.exists(self.params.resource):
            raise FileNotFoundError(f"resource not found: {self.params.resource}")

    def setup(self):
        NeedsResource.calls.append("setup")

    def process(self, batch):
        NeedsResource.calls.append("process")
        return batch


def test_every_stage_is_checked_before_any_stage_runs(small_job, tmp_path, monkeypatch):
    monkeypatch.setitem(STAGES, "needs_resource", f"{__name__}:NeedsResource")
    job = load_job(small_job([{"normalize": {}}, {"needs_resource": {"resource": str(tmp_path / "nope")}}]))
    with pytest.raises(JobError, match=r"stages\[1\]\.needs_resource: resource not found: .*nope"):
        run_job(job, RunOptions(use_ray=False, quiet=True))
    assert NeedsResource.calls == [] and not (tmp_path / "out").exists()
    (tmp_path / "nope").write_text("here")
    stats = run_job(job, RunOptions(use_ray=False, quiet=True))
    assert stats["totals"]["kept"] == 60 and NeedsResource.calls[0] == "setup"


def processes_in_session(sid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (OSError, psutil.Error):
            continue
    return found


def wait_for_no_process_in_session(sid: int, timeout: float) -> list[str]:
    """Names of the session's processes still alive after ``timeout`` seconds (empty: all gone)."""
    deadline = time.time() + timeout
    while True:
        alive = processes_in_session(sid)
        if not alive or time.time() > deadline:
            names = []
            for p in alive:
                try:
                    names.append(f"{p.pid} {p.name()}")
                except psutil.Error:
                    pass
            return names
        time.sleep(0.5)


def kill_session(sid: int) -> None:
    for proc in processes_in_session(sid):
        try:
            proc.kill()  # only the processes this test started (their session is the run's own)
        except psutil.Error:
            pass


@pytest.mark.slow
def test_killed_driver_leaves_no_ray_process_and_the_resumed_run_finishes_clean(tmp_path):
    for f in range(8):
        write_jsonl(tmp_path / "in" / f"f{f}.jsonl", [{"text": f"文件{f} 第{i}行。" * 20} for i in range(6000)])
    job = write_job(tmp_path / "job.yaml", name="orphans", output=str(tmp_path / "out"),
                    input=[{"path": str(tmp_path / "in"), "format": "jsonl"}], stages=[{"normalize": {}}])
    run = [*CLI, job, "--ray", "--workers", "1"]
    driver = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        parts = tmp_path / "out" / "_parts"
        deadline = time.time() + 240
        while time.time() < deadline and not (parts.is_dir() and any(n.startswith("part-") for n in os.listdir(parts))):
            time.sleep(0.1)
        assert parts.is_dir(), "the run never committed a partition"
        ray_processes = [p for p in processes_in_session(driver.pid) if p.pid != driver.pid]
        assert ray_processes, "Ray was not running in the driver's session"
        driver.send_signal(signal.SIGKILL)  # the driver alone, as an OOM killer or a lost terminal would
        assert driver.wait() == -signal.SIGKILL
        killed_at = time.monotonic()
        left = wait_for_no_process_in_session(driver.pid, timeout=30)
        assert left == [], f"Ray processes of the killed run still alive 30 s later: {left}"
        print(f"\n{len(ray_processes)} Ray processes of the killed driver, all gone {time.monotonic() - killed_at:.1f} s after the kill")
    finally:
        kill_session(driver.pid)

    resumed = subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, err
        assert "already committed" in out
        left = wait_for_no_process_in_session(resumed.pid, timeout=0)
        assert left == [], f"a finished run left processes behind: {left}"
    finally:
        kill_session(resumed.pid)


def _name(proc) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return ""


def session_of_ray_head(gcs_address: str) -> int:
    """The session of the `ray start --head --block` process serving ``gcs_address`` (tests.helpers.ray_head)."""
    port = gcs_address.rsplit(":", 1)[1]
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "start" in cmd and "--head" in cmd and f"--port={port}" in cmd:
            return os.getsid(proc.pid)
    raise AssertionError(f"no `ray start --head` for {gcs_address}")


@pytest.mark.slow
def test_a_resumed_run_ends_what_a_killed_run_left_when_its_watchdog_died_too(tmp_path):
    """The fallback: the next run into the output reaps the dead run's Ray session, and no one else's."""
    from tests.helpers import ray_head

    for f in range(8):
        write_jsonl(tmp_path / "in" / f"f{f}.jsonl", [{"text": f"文件{f} 第{i}行。" * 20} for i in range(6000)])
    job = write_job(tmp_path / "job.yaml", name="orphans", output=str(tmp_path / "out"),
                    input=[{"path": str(tmp_path / "in"), "format": "jsonl"}], stages=[{"normalize": {}}])
    run = [*CLI, job, "--ray", "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    with ray_head() as (address, _):
        head_session = session_of_ray_head(address)
        deadline = time.time() + 120
        while time.time() < deadline and not any(_name(p) == "raylet" for p in processes_in_session(head_session)):
            time.sleep(0.5)
        time.sleep(3)  # its agents and workers start after the raylet
        bystanders = processes_in_session(head_session)  # another Ray on this machine: must all survive
        assert any(_name(p) == "raylet" for p in bystanders) and len(bystanders) >= 4
        driver = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
        try:
            parts = tmp_path / "out" / "_parts"
            deadline = time.time() + 240
            while time.time() < deadline and not (parts.is_dir() and any(n.startswith("part-") for n in os.listdir(parts))):
                time.sleep(0.1)
            watchdogs = [p for p in psutil.process_iter(["cmdline"])
                         if "jinglian.pipeline.ray_reaper" in (p.info["cmdline"] or []) and str(driver.pid) in p.info["cmdline"]]
            assert len(watchdogs) == 1, "the run has no watchdog"
            watchdogs[0].kill()  # no waiting for it: the run must not get the time to finish
            driver.send_signal(signal.SIGKILL)
            assert driver.wait() == -signal.SIGKILL
            time.sleep(5)
            assert processes_in_session(driver.pid), "nothing was left behind: the fallback is not exercised"
            resumed = subprocess.run(run, capture_output=True, text=True, timeout=300, env=env)
            assert resumed.returncode == 0, resumed.stderr
            assert "already committed" in resumed.stdout
            left = wait_for_no_process_in_session(driver.pid, timeout=0)
            assert left == [], f"the resumed run left the killed run's processes alive: {left}"
        finally:
            kill_session(driver.pid)
        assert all(p.is_running() for p in bystanders), "a process of another Ray instance was killed"


@pytest.mark.parametrize("engine", ["--ray", "--no-ray"])
def test_a_setup_that_fails_on_the_workers_is_one_line(small_job, tmp_path, engine):
    """What the cheap check lets through (fastText's magic number, then a format version it cannot read) still
    stops the run in one line, from the workers' setup()."""
    from jinglian.stages.fasttext_file import FASTTEXT_MAGIC

    damaged = tmp_path / "lid.176.ftz"
    damaged.write_bytes(FASTTEXT_MAGIC.to_bytes(4, "little") + (99).to_bytes(4, "little") + b"\x01" * 100)
    job = small_job([{"normalize": {}}, {"langid": {"model_path": str(damaged)}}])
    result = subprocess.run([*CLI, job, engine, "--workers", "1"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "stage langid: setup failed" in lines[0], result.stderr


def test_a_demo_site_whose_port_is_taken_is_one_line(tmp_path):
    import socket

    from jinglian.demo.server import DEFAULT_PORT

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", DEFAULT_PORT))
        holder.listen()
    except OSError:
        pass  # something already holds the port (another demo): the run must meet the same refusal
    try:
        job = write_job(tmp_path / "job.yaml", name="site", output=str(tmp_path / "out"),
                        input=[{"path": str(tmp_path / "in" / "seeds-*.txt"), "format": "urls", "generate": "demo-site"}],
                        stages=[{"normalize": {}}])
        result = subprocess.run([*CLI, job, "--no-ray"], capture_output=True, text=True, timeout=300)
    finally:
        holder.close()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "demo-site" in lines[0] and str(DEFAULT_PORT) in lines[0], result.stderr
