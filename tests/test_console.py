"""What a run prints: our progress and summary, never Ray's own log lines; where a run executes."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time

import pytest

from jinglian.pipeline.job import JobError
from jinglian.pipeline.partition import PartitionTask
from jinglian.pipeline.progress import Console, SegmentProgress, Ticking, format_duration
from jinglian.pipeline.ray_runtime import IN_PROCESS_BELOW_BYTES, choose_engine, estimated_input_bytes
from tests.helpers import snapshot, write_job, write_jsonl

# What Ray writes on its own: Python logging ("2026-11-30 03:24:17,601\tWARNING file.py:85 -- ..."),
# C++ logging ("[2026-11-30 03:24:28,168 E 7874 7874] core_worker.cc:..."), forwarded worker or
# system-process output ("(pid=...)", "(_call pid=...)") and Ray Data's messages.
RAY_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\s+(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b"
    r"|^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [DIWEF] \d+ \d+\]"
    r"|\((?:\w+ )?pid=\w+(?:, ip=[\d.]+)?\)"
    r"|Started a local Ray instance|Progress bars disabled|execution finished|Token authentication"
    r"|core_worker\.cc|MapBatches|ray\.data|Ray Data",
    re.MULTILINE,
)


def small_job(tmp_path, files=3, docs=8):
    for f in range(files):
        write_jsonl(tmp_path / "in" / f"f{f}.jsonl",
                    [{"text": f"第{f}个文件的第{i}篇文档。内容完整，句子通顺。" * 3} for i in range(docs)]
                    + [{"text": "第0个文件的第0篇文档。内容完整，句子通顺。" * 3}])  # an exact duplicate per file
    return write_job(tmp_path / "job.yaml", name="console", output="unused",
                     input=[{"path": str(tmp_path / "in" / "*.jsonl"), "format": "jsonl"}],
                     stages=[{"normalize": {}}, {"dedup": {}}, {"pii": {}}])


def run_cli(job, output, *extra, timeout=300):
    return subprocess.run([sys.executable, "-m", "jinglian.cli", "run", job, "--output", output, *extra],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_a_run_on_ray_prints_our_progress_and_no_ray_log_line(tmp_path):
    job = small_job(tmp_path)
    out = tmp_path / "ray"
    result = run_cli(job, str(out), "--ray", "--workers", "2")
    console = result.stdout + result.stderr
    assert result.returncode == 0, console[-3000:]
    assert RAY_LINE.findall(console) == [], console
    assert result.stderr == ""
    assert "running on Ray, started in this process (--ray)" in result.stdout
    # documents of the whole segment, over all workers: 3 files x 9 records
    assert re.search(r"segment 0 \[normalize\] done: 27 docs in [\d.]+ s .*normalize 27 -> 27", result.stdout), result.stdout
    assert re.search(r"segment 1 \[dedup, pii\] done: 27 docs in [\d.]+ s .*dedup 27 -> 24, pii 24 -> 24", result.stdout)
    assert "totals: read 27 = kept 24 + rejected 3 + failed 0" in result.stdout
    # Ray did log: into the run's log file, not onto the console
    log = (out / "_logs" / "ray.log").read_text(errors="replace")
    assert "Started a local Ray instance" in log
    assert f"Ray's own log: {out / '_logs' / 'ray.log'}" in result.stdout

    local = run_cli(job, str(tmp_path / "local"))  # small: in this process by default, the same bytes
    assert local.returncode == 0, local.stderr
    assert "running in this process: the inputs" in local.stdout and "--ray forces Ray" in local.stdout
    assert RAY_LINE.findall(local.stdout + local.stderr) == []
    assert not (tmp_path / "local" / "_logs").exists()
    assert snapshot(tmp_path / "local") == snapshot(out)


@pytest.mark.slow
def test_verbose_shows_rays_own_lines(tmp_path):
    job = small_job(tmp_path, files=2, docs=3)
    result = run_cli(job, str(tmp_path / "out"), "--ray", "--verbose")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Started a local Ray instance" in result.stdout + result.stderr
    assert not (tmp_path / "out" / "_logs").exists()
    assert "totals: read 8 = kept 6 + rejected 2 + failed 0" in result.stdout


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def result(part, read=0, docs_in=0, docs_out=0, added=0):
    return {"part": part, "read": read,
            "stages": [{"docs_in": docs_in, "docs_out": docs_out, "added": added, "rejected": docs_in - docs_out}]}


def test_progress_counts_documents_of_the_whole_segment_not_per_worker():
    out, clock = io.StringIO(), Clock()
    progress = SegmentProgress(Console(out), "segment 0 [extract]", ["extract"], [0, 1, 2, 3], [],
                               weights={0: 100, 1: 100, 2: 100, 3: 100}, plain_every_s=10, clock=clock)
    clock.now += 2
    progress.update(result(0, read=20, docs_in=20, docs_out=18))
    clock.now += 2
    progress.update(result(1, read=20, docs_in=20, docs_out=20))
    assert out.getvalue() == ""  # plain lines at most every 10 s
    clock.now += 8
    progress.update(result(2, read=30, docs_in=30, docs_out=29))
    line = out.getvalue()
    assert "70 docs" in line and "3/4 partitions" in line and "6 docs/s" in line
    assert "ETA 0:04" in line  # three quarters of the input bytes took 12 s
    progress.update(result(3, read=10, docs_in=10, docs_out=10))
    assert out.getvalue() == line  # no progress line for the last partition: the summary follows
    progress.finish()
    assert out.getvalue().splitlines()[-1] == "  segment 0 [extract] done: 80 docs in 12.0 s (7 docs/s); extract 80 -> 77"


def test_a_long_partition_still_gets_plain_lines():
    out = io.StringIO()
    progress = SegmentProgress(Console(out), "segment 0 [extract]", ["extract"], [0], [], weights={0: 100},
                               plain_every_s=0.05)
    time.sleep(0.3)  # no partition finishes meanwhile
    progress.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all("segment 0 [extract]  0 docs  0/1 partitions" in line for line in lines[:-1])
    assert lines[-1].startswith("  segment 0 [extract] done: 0 docs in")


def test_progress_of_a_resumed_segment_counts_speed_of_this_run_only():
    clock = Clock()
    committed = [result(0, docs_in=50, docs_out=50), result(1, docs_in=50, docs_out=50)]
    progress = SegmentProgress(Console(io.StringIO()), "segment 1 [dedup]", ["dedup"], [0, 1, 2, 3], committed,
                               rows_in={0: 50, 1: 50, 2: 40, 3: 60}, clock=clock)
    assert "100/200 docs" in progress.render()
    clock.now += 4
    progress.update(result(2, docs_in=40, docs_out=39))
    text = progress.render()
    assert "140/200 docs" in text and "3/4 partitions" in text and "10 docs/s" in text
    assert "ETA 0:06" in text  # 40 of this run's 100 rows in 4 s


def test_progress_on_a_terminal_redraws_one_line():
    term, clock = Terminal(), Clock()
    console = Console(term)
    progress = SegmentProgress(console, "segment 0 [normalize]", ["normalize"], [0, 1], [], weights={0: 1, 1: 1},
                               tick_s=0, clock=clock)
    clock.now += 1
    progress.update(result(0, read=5, docs_in=5, docs_out=5))
    assert term.getvalue().startswith("\r  segment 0 [normalize]  5 docs  1/2 partitions")
    assert "\n" not in term.getvalue()
    console.line("a line of its own")  # clears the live line first
    assert term.getvalue().endswith("\r\x1b[Ka line of its own\n")
    progress.update(result(1, read=5, docs_in=5, docs_out=5))
    progress.finish()
    assert term.getvalue().endswith("\r\x1b[K  segment 0 [normalize] done: 10 docs in 1.0 s (10 docs/s); normalize 10 -> 10\n")


def test_a_step_without_countable_progress_ticks_on_a_terminal_only():
    term, plain = Terminal(), io.StringIO()
    with Ticking(Console(term), "  [dedup] preparing", tick_s=0.01):
        time.sleep(0.2)
    assert "\r  [dedup] preparing  0:00 elapsed\x1b[K" in term.getvalue()
    assert term.getvalue().endswith("\r\x1b[K")  # cleared for the next line
    with Ticking(Console(plain), "  [dedup] preparing", tick_s=0.01):
        time.sleep(0.05)
    assert plain.getvalue() == ""


def test_format_duration():
    assert [format_duration(s) for s in (0, 59.4, 61, 3725)] == ["0:00", "0:59", "1:01", "1:02:05"]


def tasks_of(paths, fmt="jsonl"):
    return [PartitionTask(i, str(p), fmt, "web", {}) for i, p in enumerate(paths)]


def test_small_jobs_run_in_process_unless_ray_is_asked_for(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    small = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for p in small:
        p.write_text('{"text": "x"}\n')
    assert not choose_engine(None, None, tasks_of(small), cpus=8, ray_running=False).use_ray
    assert choose_engine(True, None, tasks_of(small), cpus=8, ray_running=False).use_ray
    # --address: always the cluster
    assert choose_engine(None, "127.0.0.1:6379", tasks_of(small), cpus=8, ray_running=False).use_ray
    assert choose_engine(None, None, tasks_of(small), cpus=8, ray_running=True).use_ray  # already paid for
    with pytest.raises(JobError, match="contradict"):
        choose_engine(False, "127.0.0.1:6379", tasks_of(small))

    big = [tmp_path / "c.jsonl", tmp_path / "d.jsonl"]
    for p in big:
        with open(p, "wb") as f:
            f.truncate(IN_PROCESS_BELOW_BYTES // 2 + 1)
    choice = choose_engine(None, None, tasks_of(big), cpus=8, ray_running=False)
    assert choice.use_ray and "2 partitions" in choice.reason
    assert not choose_engine(None, None, tasks_of(big), cpus=1, ray_running=False).use_ray
    assert not choose_engine(None, None, tasks_of(big[:1] * 1), cpus=8, ray_running=False).use_ray  # one partition
    assert not choose_engine(False, None, tasks_of(big), cpus=8, ray_running=False).use_ray
    # stages that keep every CPU busy in one process (tokenize's threads): in-process at any size
    busy = choose_engine(None, None, tasks_of(big), cpus=8, ray_running=False, stages_busy_every_cpu=True)
    assert not busy.use_ray and "every CPU" in busy.reason
    assert choose_engine(True, None, tasks_of(big), cpus=8, ray_running=False, stages_busy_every_cpu=True).use_ray


def test_tokenize_on_every_cpu_keeps_every_cpu_busy_and_filter_does_not():
    from jinglian.stages.filter import FilterStage
    from jinglian.stages.token_shards.stage import TokenizeParams, TokenizeStage, worker_cpus

    assert TokenizeStage.busies_every_cpu(TokenizeParams())  # num_threads 0: every CPU
    assert TokenizeStage.busies_every_cpu(TokenizeParams(num_threads=worker_cpus()))
    if worker_cpus() > 1:
        assert not TokenizeStage.busies_every_cpu(TokenizeParams(num_threads=1))
    assert not FilterStage.busies_every_cpu(FilterStage.Params())


def test_ray_address_from_the_environment_means_the_cluster(tmp_path, monkeypatch):
    """`ray job submit` sets RAY_ADDRESS: the job runs on that cluster whatever its size."""
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert choose_engine(None, None, tasks_of([tmp_path / "a.jsonl"] * 2), cpus=8, ray_running=False).use_ray


def test_input_size_counts_compressed_files_and_url_lists_as_work(tmp_path):
    (tmp_path / "a.jsonl.gz").write_bytes(b"\0" * 1000)
    (tmp_path / "seeds.txt").write_text("http://a/1\nhttp://a/2\n\nhttp://a/3\n")
    assert estimated_input_bytes(tasks_of([tmp_path / "a.jsonl.gz"])) == 4000
    assert estimated_input_bytes(tasks_of([tmp_path / "seeds.txt"], fmt="urls")) == 3 * (64 << 10)
