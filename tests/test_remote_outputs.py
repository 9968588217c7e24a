"""Runs written to object storage: moto's S3 server on 127.0.0.1 receives the outputs of runs that read
WARC files from a plain HTTP server (a Common Crawl style paths list, one connection that drops mid-file,
one 404).

The bucket run's part files are byte for byte those of the same run into a local directory; a driver
killed mid-run (held at a gate, then SIGKILL) resumes into the bucket to the same bytes, a killed
upload's leftovers are never counted and are swept; a second run is refused while the first holds the
lock object; ``--overwrite`` deletes only the run's own keys.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jinglian.core.object_store import ObjectStore
from jinglian.pipeline.bucket_guard import ObjectLock
from jinglian.pipeline.executor import RunOptions, run_job
from jinglian.pipeline.job import JobError, load_job
from jinglian.pipeline.output_guard import LOCK_FILE, OutputLock, OutputRefused
from tests.servers import S3_ENV, serve_files
from tests.test_remote_inputs import CRAWL, PAGES, counts_per_file, make_warc
from tests.helpers import write_job
from tests.test_resume import wait_for_session_to_end

ROOT = Path(__file__).resolve().parent.parent
GATE = "tests.test_multinode:GateStage"
BUCKET = "runs"
NAMES = ["a.warc.gz", "b.warc.gz", "c.warc.gz", "d.warc.gz"]
LISTED = [f"{CRAWL}/a.warc.gz", f"{CRAWL}/b.warc.gz", f"{CRAWL}/gone.warc.gz", f"{CRAWL}/c.warc.gz", f"{CRAWL}/d.warc.gz"]
PATHS_LIST = "/crawl-data/CC-MAIN-2099-01/warc.paths.gz"


@pytest.fixture
def crawl(tmp_path):
    """The WARC files on disk and as an HTTP server serves them, with a paths list naming a missing one too."""
    files = {}
    for n, name in enumerate(NAMES):
        data = make_warc(PAGES[n * 3: n * 3 + 3], name[0])
        os.makedirs(tmp_path / "local" / CRAWL, exist_ok=True)
        (tmp_path / "local" / CRAWL / name).write_bytes(data)
        files[f"/{CRAWL}/{name}"] = data
    files[PATHS_LIST] = gzip.compress("\n".join(LISTED).encode() + b"\n")
    with serve_files(files) as server:
        yield server


@pytest.fixture
def bucket(s3_server):
    """An empty bucket (the s3_server fixture starts with moto's state reset)."""
    s3_server.client().create_bucket(Bucket=BUCKET)
    return s3_server


def job_file(tmp_path, name, server, s3, stages=None) -> str:
    entry = {"paths_list": server.url + PATHS_LIST, "prefix": server.url + "/", "format": "warc"}
    return write_job(tmp_path / f"{name}.yaml", name="cc-slice", output="unused", input=[entry],
                     stages=stages or [{"extract": {}}], output_storage_options={"endpoint_url": s3.endpoint},
                     work_dir=str(tmp_path / f"{name}-staging"))


def run(job: str, output: str, **options) -> dict:
    return run_job(load_job(job, output=output), RunOptions(use_ray=False, quiet=True, **options))


def local_files(directory) -> dict[str, bytes]:
    """Part files and markers of a local run (markers as their JSON)."""
    out = {}
    for sub in ("docs", "rejected", "errors", "_parts"):
        for name in sorted(os.listdir(os.path.join(directory, sub))):
            data = (Path(directory) / sub / name).read_bytes()
            out[f"{sub}/{name}"] = json.loads(data) if sub == "_parts" else data
    return out


def bucket_files(store: ObjectStore) -> dict[str, bytes]:
    """The same of a bucket run; markers without the objects' sizes and hashes (a local marker has none)."""
    out = {}
    for key in sorted(store.sizes()):
        if key.split("/")[0] in ("docs", "rejected", "errors"):
            out[key] = store.get_bytes(key)
        elif key.startswith("_parts/"):
            marker = json.loads(store.get_bytes(key))
            del marker["objects"]
            out[key] = marker
    return out


def without_wall(value):
    """Markers without their timings (``wall_s`` at any depth)."""
    if isinstance(value, dict):
        return {k: without_wall(v) for k, v in value.items() if k != "wall_s"}
    if isinstance(value, list):
        return [without_wall(v) for v in value]
    return value


def test_http_to_bucket_equals_local_run_and_a_rerun_changes_nothing(tmp_path, crawl, bucket):
    job = job_file(tmp_path, "job", crawl, bucket)
    url = f"s3://{BUCKET}/cc/slice"
    crawl.drop = {f"/{CRAWL}/b.warc.gz"}
    local = run(job, str(tmp_path / "local-run"))
    crawl.drop = {f"/{CRAWL}/b.warc.gz"}  # the same dropped connection in the bucket run
    remote = run(job, url)
    assert remote["totals"] == local["totals"] and remote["sources"] == local["sources"]
    assert remote["totals"]["read"] == remote["totals"]["kept"] + remote["totals"]["rejected"] + remote["totals"]["failed"]
    assert local["totals"]["failed"] == 1  # the 404: one failed entry

    store = ObjectStore(url, {"endpoint_url": bucket.endpoint})
    in_bucket = bucket_files(store)
    assert without_wall(in_bucket) == without_wall(local_files(tmp_path / "local-run"))  # Parquet byte for byte
    assert json.loads(store.get_bytes("stats.json"))["totals"] == local["totals"]
    assert json.loads(store.get_bytes("_job.json"))["fingerprint"] == load_job(job).fingerprint()
    assert store.get_bytes(LOCK_FILE) is None  # released: the lock object is gone

    # counts per file as for the same files read from disk
    from_disk = write_job(tmp_path / "disk.yaml", name="disk", output=str(tmp_path / "disk-run"),
                          input=[{"path": str(tmp_path / "local" / CRAWL), "format": "warc"}], stages=[{"extract": {}}])
    run_job(load_job(from_disk), RunOptions(use_ray=False, quiet=True))
    expected = counts_per_file(tmp_path / "disk-run")
    assert {k: v for k, v in counts_per_file(tmp_path / "local-run").items() if k != "gone.warc.gz"} == expected

    again = run(job, url)  # everything committed: nothing runs, nothing changes
    assert again["totals"] == local["totals"]
    assert bucket_files(store) == in_bucket

    store.delete(["docs/part-00001.parquet"])  # a marker whose object is gone commits nothing: the part runs again
    assert run(job, url)["totals"] == local["totals"]
    assert without_wall(bucket_files(store)) == without_wall(in_bucket)


@pytest.mark.parametrize("engine", [["--no-ray"], pytest.param(["--ray", "--workers", "1"], marks=pytest.mark.slow)],
                         ids=["no-ray", "ray"])
def test_killed_driver_resumes_into_the_bucket_without_its_staging(tmp_path, crawl, bucket, engine):
    """The driver (and its Ray) die while partition 3 of the segment after the dedup barrier is held; the local
    staging (intermediates, barrier verdicts) is lost too: the resume recomputes what was staged and skips
    the partitions the bucket's markers commit."""
    gate = tmp_path / "gate"
    stages = [{"extract": {}}, {"dedup": {}}, {GATE: {"gate": str(gate), "free": [0, 1]}}]
    job = job_file(tmp_path, "held", crawl, bucket, stages=stages)
    url = f"s3://{BUCKET}/held"
    store = ObjectStore(url, {"endpoint_url": bucket.endpoint})
    env = {**os.environ, **S3_ENV, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "jinglian.cli", "run", job, "--output", url, *engine]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        waiting = Path(f"{gate}.waiting-3")  # part 2 is the 404: its one failed row reaches no stage
        deadline = time.time() + 120
        while not waiting.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert waiting.exists(), proc.stdout.read().decode() if proc.poll() is not None else "the run never reached the gate"
        # while it holds the lock, a second run is refused with the holder named
        with pytest.raises(OutputRefused, match=rf"in use by another jinglian run \(pid {proc.pid} on "):
            run(job, url)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have ended on its own (a failure shown above)
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_for_session_to_end(proc.pid)
    assert sorted(store.sizes("_parts/")) == [f"_parts/part-0000{n}.json" for n in range(3)]
    assert store.get_bytes(LOCK_FILE) is not None  # a killed run cannot remove its lock
    # what a killed upload leaves: a torn object of the held partition and one of a partition no task has
    store.put_bytes("docs/part-00003.parquet", b"torn upload")
    store.put_bytes("rejected/part-00099.parquet", b"torn upload")
    client = bucket.client()
    client.create_multipart_upload(Bucket=BUCKET, Key="held/docs/part-00004.parquet")  # never completed
    client.create_multipart_upload(Bucket=BUCKET, Key="held-other/docs/part-00004.parquet")  # not the run's

    shutil.rmtree(tmp_path / "held-staging")
    gate.touch()
    resumed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "2 partitions to run, 3 already committed" in resumed.stdout

    clean = job_file(tmp_path, "clean", crawl, bucket, stages=stages)
    expected = run(clean, str(tmp_path / "clean-run"))
    assert without_wall(bucket_files(store)) == without_wall(local_files(tmp_path / "clean-run"))
    assert json.loads(store.get_bytes("stats.json"))["totals"] == expected["totals"]
    assert "rejected/part-00099.parquet" not in store.sizes()  # swept: no marker vouches for it
    unfinished = [u["Key"] for u in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    assert unfinished == ["held-other/docs/part-00004.parquet"]
    assert store.get_bytes(LOCK_FILE) is None


def test_a_live_lock_refuses_and_a_lapsed_lease_is_taken_over(bucket):
    store = ObjectStore(f"s3://{BUCKET}/locked", {"endpoint_url": bucket.endpoint})
    elsewhere = {"pid": 4242, "host": "not-" + socket.gethostname(), "since": 1.5, "started": "2099-01-01T00:00:00Z",
                 "lease_s": 120}
    store.put_bytes(LOCK_FILE, json.dumps({**elsewhere, "renewed": time.time()}).encode())
    with pytest.raises(OutputRefused, match=r"in use by another jinglian run \(pid 4242 on not-"):
        ObjectLock.acquire_in(store, "job.yaml")

    store.put_bytes(LOCK_FILE, json.dumps({**elsewhere, "renewed": time.time() - 600}).encode())
    lock = ObjectLock.acquire_in(store, "job.yaml")
    try:
        assert lock.previous_holder["pid"] == 4242
        assert json.loads(store.get_bytes(LOCK_FILE))["pid"] == os.getpid()
        with pytest.raises(OutputRefused, match=rf"pid {os.getpid()} on "):  # another process would be refused
            OutputLock._held.pop(store.url)
            try:
                ObjectLock.acquire_in(store, "job.yaml")
            finally:
                OutputLock._held[store.url] = lock
        before = json.loads(store.get_bytes(LOCK_FILE))["renewed"]
        assert lock.renew() and json.loads(store.get_bytes(LOCK_FILE))["renewed"] >= before
        # a run that stopped renewing (suspended past its lease) and was taken over learns it
        store.put_bytes(LOCK_FILE, json.dumps({**elsewhere, "renewed": time.time()}).encode())
        assert not lock.renew() and lock.lost
    finally:
        lock.release()
    assert json.loads(store.get_bytes(LOCK_FILE))["pid"] == 4242  # the new holder's lock is not removed
    store.delete([LOCK_FILE])
    lock = ObjectLock.acquire_in(store, "job.yaml")
    lock.release()
    assert store.get_bytes(LOCK_FILE) is None


def test_overwrite_deletes_only_the_runs_own_keys(tmp_path, crawl, bucket):
    job = job_file(tmp_path, "job", crawl, bucket)
    url = f"s3://{BUCKET}/shared/run"
    store = ObjectStore(f"s3://{BUCKET}/shared", {"endpoint_url": bucket.endpoint})
    store.put_bytes("run-notes/keep.txt", b"a sibling prefix that starts like the run's")
    store.put_bytes("run.txt", b"a sibling key")
    first = run(job, url)
    store.put_bytes("run/notes.txt", b"the user's own key inside the run's prefix")
    store.put_bytes("run/other/data.bin", b"and another")
    store.put_bytes("run/_parts/part-00000.json.bak", b"inside a run entry: the run's")

    second = run(job, url, overwrite=True)
    assert second["totals"] == first["totals"]
    keys = store.sizes()
    for kept in ("run-notes/keep.txt", "run.txt", "run/notes.txt", "run/other/data.bin"):
        assert kept in keys
    assert "run/_parts/part-00000.json.bak" not in keys
    assert "run/stats.json" in keys and "run/_job.json" in keys

    # a prefix that holds other objects and no run marker is never written to
    with pytest.raises(OutputRefused, match="is not a jinglian run"):
        run(job, f"s3://{BUCKET}/shared")
    assert store.sizes() == keys


def test_job_checks_for_a_bucket_output(tmp_path, crawl, bucket):
    job = job_file(tmp_path, "job", crawl, bucket)
    inside = ObjectStore(f"s3://{BUCKET}/in", {"endpoint_url": bucket.endpoint})
    inside.put_bytes("x.warc.gz", make_warc(PAGES[:1], "x"))
    reads_bucket = write_job(tmp_path / "s3in.yaml", name="s3in", output=f"s3://{BUCKET}/in/out",
                             input=[{"path": f"s3://{BUCKET}/in/*.warc.gz", "format": "warc",
                                     "storage_options": {"endpoint_url": bucket.endpoint}}],
                             stages=[{"extract": {}}], output_storage_options={"endpoint_url": bucket.endpoint})
    with pytest.raises(OutputRefused, match="lies inside the input"):
        run_job(load_job(reads_bucket), RunOptions(use_ray=False, quiet=True))
    assert sorted(inside.sizes()) == ["x.warc.gz"]
    with pytest.raises(JobError, match="output_storage_options.secret: credentials do not belong"):
        load_job(write_job(tmp_path / "secret.yaml", name="s", output=f"s3://{BUCKET}/x", input=[{"path": job, "format": "text"}],
                           stages=[{"extract": {}}], output_storage_options={"secret": "x"}))
    with pytest.raises(JobError, match="stage 'tokenize' writes files into the output itself"):
        load_job(write_job(tmp_path / "tok.yaml", name="t", output=f"s3://{BUCKET}/x", input=[{"path": job, "format": "text"}],
                           stages=[{"tokenize": {}}]))
