"""`jinglian run --output DIR [--overwrite]` never deletes what is not a run, and one run at a time owns DIR.

Every case runs the real CLI in a real process on real directories; the checks are on what is
left on disk and on what the user reads (one line, exit status 2, no traceback).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from jinglian.pipeline.output_guard import LOCK_FILE, RUN_MARKER
from tests.helpers import write_job, write_jsonl

CLI = [sys.executable, "-m", "jinglian.cli", "run"]


def jinglian_run(job, *args, cwd=None, env=None, timeout=120):
    return subprocess.run([*CLI, str(job), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def tree(path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes: what must survive a refused run unchanged."""
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = f.read()
    return out


def assert_refused(result, *expected):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def project(tmp_path):
    """A working directory as a new user has it: a job file and its inputs in data/."""
    write_jsonl(tmp_path / "data" / "a.jsonl", [{"text": f"第{i}篇文档，内容足够长，可以保留下来。" * 3} for i in range(20)])
    write_jsonl(tmp_path / "data" / "b.jsonl", [{"text": f"document number {i} with enough words to keep it"} for i in range(20)])
    write_job(tmp_path / "job.yaml", name="safety", output="build/out",
              input=[{"path": "data/*.jsonl", "format": "jsonl"}], stages=[{"normalize": {}}])
    return tmp_path


def test_overwrite_never_deletes_a_directory_that_is_not_a_run(project):
    thesis = project / "thesis"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("three years of work")
    for extra in (["--overwrite"], []):
        line = assert_refused(jinglian_run("job.yaml", "--no-ray", "--output", "thesis", *extra, cwd=project),
                              "not a jinglian run", "thesis.txt", "new --output")
        assert "--overwrite" not in line  # never advise deleting a directory that is not ours
        assert tree(thesis) == {"thesis.txt": b"three years of work"}


@pytest.mark.parametrize("output", [".", "data", "data/a.jsonl", "data/sub", "..", "job.yaml"])
def test_output_overlapping_the_inputs_or_working_directory_is_refused(project, output):
    before = tree(project)
    for extra in (["--overwrite"], []):
        result = jinglian_run("job.yaml", "--no-ray", "--output", output, *extra, cwd=project)
        assert_refused(result, repr(output))
        assert tree(project) == before


def test_output_that_holds_the_inputs_is_refused_even_when_it_is_a_run(project):
    """A run directory used as the input of the next job (re-curating docs/) must not be overwritten by it."""
    assert jinglian_run("job.yaml", "--no-ray", cwd=project).returncode == 0
    write_job(project / "again.yaml", name="again", output="unused",
              input=[{"path": "build/out/docs/*.parquet", "format": "parquet"}], stages=[{"normalize": {}}])
    before = tree(project / "build")
    assert_refused(jinglian_run("again.yaml", "--no-ray", "--output", "build/out", "--overwrite", cwd=project),
                   "contains the input")
    assert tree(project / "build") == before


def test_output_that_is_or_contains_home_is_refused(project):
    home = project / "home"
    (home / "me").mkdir(parents=True)
    (home / "me" / "notes.txt").write_text("mine")
    env = {**os.environ, "HOME": str(home / "me")}
    for output in (str(home / "me"), str(home)):
        assert_refused(jinglian_run(str(project / "job.yaml"), "--no-ray", "--output", output, "--overwrite",
                                    cwd=project, env=env), "home directory")
    assert tree(home) == {os.path.join("me", "notes.txt"): b"mine"}


def test_output_that_is_a_file_is_refused(project):
    (project / "report.pdf").write_bytes(b"%PDF")
    assert_refused(jinglian_run("job.yaml", "--no-ray", "--output", "report.pdf", "--overwrite", cwd=project),
                   "not a directory")
    assert (project / "report.pdf").read_bytes() == b"%PDF"


def test_overwrite_replaces_only_the_runs_own_files(project):
    assert jinglian_run("job.yaml", "--no-ray", cwd=project).returncode == 0
    out = project / "build" / "out"
    (out / "notes.txt").write_text("my notes about this run")
    (out / "analysis").mkdir()
    (out / "analysis" / "plot.py").write_text("print(1)")
    for leftover in ("tokens/train/web_00000.bin", "README.md", "report/langs.png", "_logs/ray.log", "warc/a.warc.gz"):
        (out / leftover).parent.mkdir(parents=True, exist_ok=True)  # what the old run's other stages wrote
        (out / leftover).write_text("old run")
    write_job(project / "job2.yaml", name="safety2", output="build/out",
              input=[{"path": "data/a.jsonl", "format": "jsonl"}], stages=[{"normalize": {"form": "NFKC"}}])
    refused = assert_refused(jinglian_run("job2.yaml", "--no-ray", cwd=project), "different job")
    assert "--overwrite" in refused  # a run directory may be replaced, and the message says how
    result = jinglian_run("job2.yaml", "--no-ray", "--overwrite", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (out / "notes.txt").read_text() == "my notes about this run"
    assert (out / "analysis" / "plot.py").read_text() == "print(1)"
    assert sorted(os.listdir(out)) == sorted(["notes.txt", "analysis", LOCK_FILE, RUN_MARKER, "_parts", "docs",
                                              "rejected", "errors", "stats.json"])  # the old run's other entries gone
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"]["read"] == 20  # only job2's input: job1's 40 documents are gone
    assert len(os.listdir(out / "_parts")) == 1
    assert json.loads((out / RUN_MARKER).read_text())["name"] == "safety2"


def test_a_second_run_into_a_locked_output_is_refused_and_a_dead_holders_lock_is_taken_over(project):
    out = project / "build" / "out"
    out.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from jinglian.pipeline.output_guard import OutputLock; "
         "OutputLock.acquire(sys.argv[1]); print('held', flush=True); time.sleep(300)", str(out)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = assert_refused(jinglian_run("job.yaml", "--no-ray", cwd=project), "in use by another jinglian run")
        assert f"pid {holder.pid}" in line
        assert not (out / RUN_MARKER).exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / LOCK_FILE).exists()  # the dead holder's lock file stays; its lock died with it
    result = jinglian_run("job.yaml", "--no-ray", cwd=project)
    assert result.returncode == 0, result.stderr


def test_two_runs_started_at_once_into_one_output_never_both_write_it(tmp_path):
    """Same job and different jobs, started together: one run owns the output, the other is told so."""
    for f in range(4):
        write_jsonl(tmp_path / "in" / f"f{f}.jsonl", [{"text": f"文件{f} 第{i}行。" * 30} for i in range(3000)])
    jobs = [write_job(tmp_path / f"job{k}.yaml", name=f"race{k}", output="unused",
                      input=[{"path": str(tmp_path / "in"), "format": "jsonl"}],
                      stages=[{"normalize": {"form": "NFC" if k == 0 else "NFKC"}}]) for k in (0, 1)]
    overlapped = refused = 0
    trials = int(os.environ.get("JINGLIAN_RACE_TRIALS", "6"))
    for trial in range(trials):
        out = str(tmp_path / f"out{trial}")
        pair = (jobs[0], jobs[0]) if trial % 2 == 0 else (jobs[0], jobs[1])
        procs = [subprocess.Popen([*CLI, job, "--no-ray", "--output", out], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for job in pair]
        results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
        for rc, stdout, stderr in results:
            assert "Traceback" not in stdout + stderr, stderr
            assert rc in (0, 2), stderr
        winners = [r for r in results if r[0] == 0]
        losers = [r for r in results if r[0] == 2]
        assert len(winners) >= 1
        for _, _, stderr in losers:
            assert_refused(subprocess.CompletedProcess([], 2, "", stderr))
            assert "in use by another jinglian run" in stderr or "different job" in stderr
            overlapped += "in use by another jinglian run" in stderr
            refused += 1
        if len(winners) == 2:  # the same job, one after the other: the second resumed the first
            assert pair[0] == pair[1] and any("0 partitions to run, 4 already committed" in w[1] for w in winners)
        stats = json.load(open(os.path.join(out, "stats.json")))
        assert stats["totals"]["read"] == 12000 and stats["totals"]["kept"] == 12000
        marker = json.load(open(os.path.join(out, RUN_MARKER)))
        winner_job = pair[0] if results[0][0] == 0 else pair[1]
        assert marker["file"] == winner_job and stats["job"]["name"] == marker["name"]
    print(f"\nrace: {trials} trials, {refused} second runs refused ({overlapped} while the first held the lock), "
          f"{trials - refused} resumed after the first finished; 0 tracebacks, 0 runs lost")
    assert overlapped >= 1, "no trial had both runs at once: the test did not test the lock"


def test_the_lock_lasts_until_the_whole_command_ends(tmp_path):
    """run_job releases its lock, but inside `jinglian run` (keep_locks) the card and pretraining still hold it."""
    from jinglian.pipeline.output_guard import OutputLock, keep_locks

    probe = [sys.executable, "-c", "import sys; from jinglian.pipeline.output_guard import OutputLock, OutputRefused\n"
             "try:\n    OutputLock.acquire(sys.argv[1])\nexcept OutputRefused:\n    sys.exit(3)", str(tmp_path)]
    with keep_locks():
        lock = OutputLock.acquire(str(tmp_path))
        assert OutputLock.acquire(str(tmp_path)) is lock  # re-entrant within the process
        lock.release()
        lock.release()  # what run_job does when it returns
        assert subprocess.run(probe).returncode == 3  # still held: the card is being written
    assert subprocess.run(probe).returncode == 0  # the command ended: free
