"""Faults injected into real runs: worker processes killed with SIGKILL mid-stage lose no document."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.helpers import snapshot, ray_head, write_job, write_jsonl

pytestmark = pytest.mark.slow


def ray_workers(title: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::") and title in cmd:
            found.append(p)
    return found


def kill_worker_when(title: str, ready, proc: subprocess.Popen, timeout: float = 240) -> int:
    """SIGKILL one Ray worker whose process title contains ``title`` once ``ready()``; returns its pid."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        workers = ray_workers(title)
        if workers and ready():
            workers[0].send_signal(signal.SIGKILL)
            return workers[0].pid
        time.sleep(0.05)
    raise AssertionError(f"no Ray worker {title!r} to kill; the run said: {proc.communicate()[0][-3000:]}")


@pytest.fixture
def corpus(tmp_path):
    for f in range(12):
        write_jsonl(tmp_path / "in" / f"f{f:02d}.jsonl",
                    [{"text": f"第{f}个文件，第{i}行。" * 30 + ("\x00" if i % 11 == 0 else "")} for i in range(3000)])
    return tmp_path


def run(job, output, *extra):
    return subprocess.run([sys.executable, "-m", "jinglian.cli", "run", job, "--output", output, *extra],
                          capture_output=True, text=True, timeout=600)


def test_worker_killed_mid_stage_output_identical(corpus):
    job = write_job(corpus / "job.yaml", name="crash", output="unused",
                    input=[{"path": str(corpus / "in"), "format": "jsonl"}], stages=[{"normalize": {"min_chars": 40}}])
    clean = run(job, str(corpus / "clean"), "--no-ray")
    assert clean.returncode == 0, clean.stderr
    killed_dir = corpus / "killed"
    with ray_head() as (gcs, _):
        proc = subprocess.Popen([sys.executable, "-m", "jinglian.cli", "run", job, "--output", str(killed_dir),
                                 "--address", gcs, "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={**os.environ, "RAY_AUTH_MODE": "token"})
        parts = killed_dir / "_parts"
        kill_worker_when("SegmentWorker", lambda: parts.is_dir() and len(os.listdir(parts)) >= 1, proc)
        out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert snapshot(killed_dir) == snapshot(corpus / "clean")


def token_files(directory):
    out = {}
    for root, _, files in os.walk(os.path.join(directory, "tokens")):
        for name in files:
            if name.endswith((".bin", ".idx")):
                path = os.path.join(root, name)
                out[os.path.relpath(path, directory)] = open(path, "rb").read()
    return out


def test_workers_killed_in_dedup_shuffle_and_tokenize_lose_nothing(tmp_path):
    import sentencepiece as spm

    lines = [f"第{i}条：这是关于城市{i % 37}的一段新闻，记者报道了第{i * 7 % 101}项工作。" for i in range(3000)]
    (tmp_path / "sp.txt").write_text("\n".join(lines), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(tmp_path / "sp.txt"), model_prefix=str(tmp_path / "sp"), vocab_size=200, hard_vocab_limit=False,
                                   character_coverage=1.0, minloglevel=2)
    for f in range(8):  # each file repeats some of the previous file's documents: work for dedup
        docs = [lines[(f * 250 + i) % len(lines)] * 3 for i in range(400)]
        write_jsonl(tmp_path / "in" / f"f{f}.jsonl", [{"text": d, "source": "zh" if i % 3 else "web"} for i, d in enumerate(docs)])
    job = write_job(tmp_path / "job.yaml", name="crash2", output="unused",
                    input=[{"path": str(tmp_path / "in"), "format": "jsonl"}],
                    stages=[{"normalize": {}}, {"dedup": {"memory_budget_mb": 1}},
                            {"tokenize": {"tokenizer": str(tmp_path / "sp.model"), "shard_tokens": 20000}}])
    clean = run(job, str(tmp_path / "clean"), "--no-ray")
    assert clean.returncode == 0, clean.stderr
    killed_dir = tmp_path / "killed"
    work = killed_dir / "_work"
    with ray_head() as (gcs, _):
        proc = subprocess.Popen([sys.executable, "-m", "jinglian.cli", "run", job, "--output", str(killed_dir),
                                 "--address", gcs], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={**os.environ, "RAY_AUTH_MODE": "token"})
        # RayOps tasks run as `ray::_call`: kill one during dedup's shuffles; then a segment actor once
        # tokenize has committed a first partition (it tokenizes in the segment after dedup's barrier).
        kill_worker_when("_call", lambda: (work / "stage-dedup" / "ops").is_dir(), proc)
        kill_worker_when("SegmentWorker", lambda: (work / "stage-tokenize" / "parts").is_dir(), proc)
        out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert snapshot(killed_dir) == snapshot(tmp_path / "clean")
    assert token_files(killed_dir) == token_files(tmp_path / "clean") != {}
