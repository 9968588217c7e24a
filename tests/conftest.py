"""Shared fixtures: one small in-process Ray for the whole session; an S3 server on 127.0.0.1 per test."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """Ray started once per test session with 2 CPUs and a small object store; shut down at the end."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, object_store_memory=256 << 20, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture
def s3_server(monkeypatch):
    """moto's S3-compatible server on 127.0.0.1, its fake credentials in the environment (tests.servers.MotoS3),
    holding no buckets: moto keeps its state in the process across servers, so one test's buckets and
    objects (a run found by the next test's resume) are reset before each test."""
    import urllib.request

    from tests.servers import S3_ENV, moto_s3

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    with moto_s3() as server:
        urllib.request.urlopen(urllib.request.Request(f"{server.endpoint}/moto-api/reset", method="POST")).close()
        yield server
