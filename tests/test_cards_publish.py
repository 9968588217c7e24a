"""`jinglian card publish` against a real HTTP server on 127.0.0.1 that implements the part of the
Hub API huggingface_hub uses to create a dataset repo and commit files (repo create, YAML
validation, preupload, NDJSON commit) and records every request."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import DatasetCard, constants

from jinglian.cards.publish import files_to_upload, human_size, scan_for_pii
from jinglian.cli import main
from jinglian.pipeline.executor import RunOptions, run_job
from jinglian.pipeline.job import load_job

TOKEN = "hf_jinglianTestSecretToken0123456789"


class FakeHub(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.repos: dict[str, dict] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record(b"")
        self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._record(body)
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["api", "repos", "create"]:
            payload = json.loads(body)
            repo = f"{payload['organization']}/{payload['name']}"
            with self.server.lock:
                self.server.repos[repo] = payload
                self.server.files.setdefault(repo, {})
            return self._reply(200, {"url": f"{self.server.url}/datasets/{repo}", "name": repo})
        if parts == ["api", "validate-yaml"]:
            return self._reply(200, {"errors": [], "warnings": []})
        if len(parts) == 6 and parts[:2] == ["api", "datasets"] and parts[4] in ("preupload", "commit"):
            repo = f"{parts[2]}/{parts[3]}"
            if repo not in self.server.repos:
                return self._reply(404, {"error": f"Repository {repo} not found"})
            if parts[4] == "preupload":
                files = json.loads(body)["files"]
                return self._reply(200, {"files": [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files]})
            for line in body.splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    value = item["value"]
                    with self.server.lock:
                        self.server.files[repo][value["path"]] = base64.b64decode(value["content"])
            return self._reply(200, {"commitUrl": f"{self.server.url}/datasets/{repo}/commit/{'a' * 40}",
                                     "commitOid": "a" * 40, "pullRequestUrl": None})
        self._reply(404, {"error": "not found"})

    def _record(self, body: bytes) -> None:
        with self.server.lock:
            self.server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                         "body": body})


@pytest.fixture(autouse=True)
def no_telemetry(monkeypatch):
    """huggingface_hub would otherwise fetch an agent registry from huggingface.co for its user agent."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)


@pytest.fixture
def hub():
    server = FakeHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_saved_login(tmp_path, monkeypatch):
    """No token anywhere: neither HF_TOKEN nor a saved login."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))


def _auth(request: dict) -> str | None:
    return next((v for k, v in request["headers"].items() if k.lower() == "authorization"), None)


# Synthetic personal data planted in a few documents; none of it may ever appear in a message.
PLANTED = {"d3": "联系电话13812345678", "d5": "身份证号11010519491231002X", "d7": "邮箱 zhang.wei@example.com",
           "d9": "电话 010-62345678，手机 139 1234 5678"}


def _run(root, stages) -> str:
    data = root / "in.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": f"第{i}篇文档。" * (i + 1) + PLANTED.get(f"d{i}", "")}, ensure_ascii=False)
             for i in range(30)]
    data.write_text("\n".join(lines + ['{"id": "empty", "text": " "}']) + "\n", encoding="utf-8")
    job = root / "job.yaml"
    job.write_text(yaml.safe_dump({"name": "pub", "input": [{"path": str(data), "format": "jsonl", "source": "web"}],
                                   "output": str(root / "out"), "stages": stages}), encoding="utf-8")
    run_job(load_job(str(job)), RunOptions(use_ray=False, quiet=True))
    return str(root / "out")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run without a pii stage: the planted personal data is in docs/."""
    return _run(tmp_path_factory.mktemp("publish"), [{"normalize": {}}])


@pytest.fixture(scope="module")
def redacted_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("redacted"), [{"normalize": {}}, {"pii": {}}])


@pytest.fixture(scope="module")
def emails_only_run(tmp_path_factory):
    """A pii stage ran, but only for e-mail addresses: the phone and ID numbers are still there."""
    return _run(tmp_path_factory.mktemp("emails"), [{"normalize": {}}, {"pii": {"types": ["EMAIL"]}}])


def _no_planted_value(text: str) -> bool:
    values = ["13812345678", "11010519491231002X", "zhang.wei@example.com", "010-62345678", "139 1234 5678"]
    return not any(v in text for v in values)


def test_files_to_upload_leave_rejected_and_internal_files(run_dir):
    main(["card", "build", run_dir, "--ascii-labels"])
    paths = [f.path for f in files_to_upload(run_dir)]
    assert paths[0] == "README.md" and "stats.json" in paths and "report/funnel.png" in paths
    assert "docs/part-00000.parquet" in paths
    assert not [p for p in paths if p.startswith(("rejected/", "errors/", "_"))]
    with_audit = [f.path for f in files_to_upload(run_dir, include_rejected=True)]
    assert "rejected/part-00000.parquet" in with_audit and "errors/part-00000.parquet" in with_audit


def test_dry_run_lists_exactly_the_files_and_sends_nothing(redacted_run, hub, no_saved_login, capsys):
    code = main(["card", "publish", redacted_run, "--repo", "me/corpus", "--dry-run", "--endpoint", hub.url, "--ascii-labels"])
    assert code == 0
    out = capsys.readouterr().out
    files = files_to_upload(redacted_run)
    listed = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert listed == [f"{f.path}  {human_size(f.size)}" for f in files]
    assert f"would upload {len(files)} files" in out and "me/corpus (private)" in out
    assert "scanned 30 of 30 documents to publish: no personal data found" in out
    assert hub.requests == []
    assert 'load_dataset("me/corpus", split="train")' in DatasetCard.load(os.path.join(redacted_run, "README.md")).content


def test_publish_uploads_card_plots_and_data_without_leaking_the_token(redacted_run, hub, monkeypatch, capsys, caplog):
    run_dir = redacted_run
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    code = main(["card", "publish", run_dir, "--repo", "me/corpus", "--private", "--endpoint", hub.url, "--ascii-labels"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert hub.repos["me/corpus"]["type"] == "dataset"
    assert hub.repos["me/corpus"].get("visibility") == "private" or hub.repos["me/corpus"].get("private") is True
    expected = {f.path for f in files_to_upload(run_dir)}
    uploaded = hub.files["me/corpus"]
    assert set(uploaded) == expected
    for path, content in uploaded.items():
        with open(os.path.join(run_dir, path), "rb") as f:
            assert f.read() == content, path
    assert DatasetCard(uploaded["README.md"].decode()).data.task_categories == ["text-generation"]
    # the token authenticated every request, and appears nowhere else
    assert hub.requests and all(_auth(r) == f"Bearer {TOKEN}" for r in hub.requests)
    assert TOKEN not in captured.out + captured.err
    assert TOKEN not in caplog.text
    assert not any(TOKEN.encode() in content for content in uploaded.values())
    assert f"{hub.url}/datasets/me/corpus" in captured.out


def test_publish_without_token_says_how_to_log_in(run_dir, hub, no_saved_login, capsys):
    code = main(["card", "publish", run_dir, "--repo", "me/corpus", "--endpoint", hub.url, "--ascii-labels"])
    assert code == 2
    assert "HF_TOKEN" in capsys.readouterr().err
    assert hub.requests == []


class _Refusing(_Handler):
    def do_POST(self) -> None:
        self._record(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self._reply(403, {"error": "You don't have the rights to create a dataset under this namespace"})


def test_publish_reports_a_refusing_hub(redacted_run, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.RequestHandlerClass = _Refusing
    code = main(["card", "publish", redacted_run, "--repo", "me/other", "--endpoint", hub.url, "--ascii-labels"])
    err = capsys.readouterr().err
    assert code == 1 and "the Hub refused" in err and "rights" in err
    assert TOKEN not in err
    assert hub.files == {}


def test_publish_refuses_a_run_in_which_no_pii_stage_ran(run_dir, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code = main(["card", "publish", run_dir, "--repo", "me/corpus", "--endpoint", hub.url, "--ascii-labels"])
    captured = capsys.readouterr()
    assert code == 2
    err = captured.err
    assert "publishing refused: no `pii` stage ran" in err and "--allow-pii" in err
    assert "scanned 30 of 30 documents" in err
    # counts per type and example document ids, never the data itself
    assert "PHONE x3 (documents d3, d9)" in err and "ID_CARD x1 (documents d5)" in err and "EMAIL x1 (documents d7)" in err
    assert _no_planted_value(captured.out + captured.err)
    assert hub.requests == [] and hub.repos == {}


def test_dry_run_says_the_same_refusal(run_dir, hub, no_saved_login, capsys):
    code = main(["card", "publish", run_dir, "--repo", "me/corpus", "--dry-run", "--endpoint", hub.url, "--ascii-labels"])
    err = capsys.readouterr().err
    assert code == 2 and "publishing would be refused: no `pii` stage ran" in err
    assert hub.requests == []


def test_publish_refuses_personal_data_a_partial_pii_stage_left(emails_only_run, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code = main(["card", "publish", emails_only_run, "--repo", "me/corpus", "--endpoint", hub.url, "--ascii-labels"])
    captured = capsys.readouterr()
    assert code == 2
    assert "no `pii` stage ran" not in captured.err
    assert "PHONE x3 (documents d3, d9)" in captured.err and "ID_CARD x1 (documents d5)" in captured.err
    assert "EMAIL" not in captured.err  # the stage replaced those
    assert _no_planted_value(captured.out + captured.err)
    assert hub.requests == []


def test_allow_pii_publishes_private_with_a_warning(run_dir, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code = main(["card", "publish", run_dir, "--repo", "me/raw", "--allow-pii", "--endpoint", hub.url, "--ascii-labels"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "warning: publishing with --allow-pii: no `pii` stage ran" in captured.out
    assert hub.repos["me/raw"].get("visibility") == "private" or hub.repos["me/raw"].get("private") is True
    assert set(hub.files["me/raw"]) == {f.path for f in files_to_upload(run_dir)}
    assert _no_planted_value(captured.out + captured.err)


def test_repositories_are_private_unless_public_is_asked_for(redacted_run, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert main(["card", "publish", redacted_run, "--repo", "me/default", "--endpoint", hub.url, "--ascii-labels"]) == 0
    assert main(["card", "publish", redacted_run, "--repo", "me/open", "--public", "--endpoint", hub.url, "--ascii-labels"]) == 0
    out = capsys.readouterr().out
    assert "me/default (private)" in out and "me/open (public)" in out
    default, public = hub.repos["me/default"], hub.repos["me/open"]
    assert default.get("visibility") == "private" or default.get("private") is True
    assert public.get("visibility", "public") == "public" and public.get("private") in (None, False)
    with pytest.raises(SystemExit):
        main(["card", "publish", redacted_run, "--repo", "me/x", "--public", "--private"])


def test_pii_sample_bounds_the_scan(run_dir, hub, no_saved_login, capsys):
    code = main(["card", "publish", run_dir, "--repo", "me/corpus", "--dry-run", "--allow-pii", "--pii-sample", "7",
                 "--ascii-labels"])
    assert code == 0 and "scanned 7 of 30 documents" in capsys.readouterr().out
    code = main(["card", "publish", run_dir, "--repo", "me/corpus", "--dry-run", "--pii-sample", "0", "--ascii-labels"])
    assert code == 2 and "--pii-sample must be at least 1" in capsys.readouterr().err


def test_include_rejected_scans_the_unredacted_audit_files(redacted_run, tmp_path, no_saved_login, capsys):
    """rejected/ never went through the pii stage: including it brings its personal data into the scan."""
    run = tmp_path / "run"
    shutil.copytree(redacted_run, run)
    pq.write_table(pa.table({"id": ["leak"], "text": ["客服电话13912345678"], "reason": ["filter:short"]}),
                   run / "rejected" / "part-00001.parquet")
    assert main(["card", "publish", str(run), "--repo", "me/c", "--dry-run", "--ascii-labels"]) == 0
    code = main(["card", "publish", str(run), "--repo", "me/c", "--dry-run", "--include-rejected", "--ascii-labels"])
    err = capsys.readouterr().err
    assert code == 2 and "PHONE x1 (documents leak)" in err and "13912345678" not in err


class _Hangup(BaseHTTPRequestHandler):
    """Accepts the connection and closes it without a word."""

    def handle(self) -> None:
        self.connection.close()


@pytest.mark.parametrize("server", ["closed_port", "hangs_up", "silent"])
def test_unreachable_hub_is_one_clear_line(redacted_run, hub, monkeypatch, capsys, server):
    from huggingface_hub import get_session

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    timeout_before = get_session().timeout
    if server == "silent":  # accepts connections (kernel backlog) and never answers
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            url = f"http://127.0.0.1:{s.getsockname()[1]}"
            started = time.monotonic()
            code = main(["card", "publish", redacted_run, "--repo", "me/corpus", "--endpoint", url, "--timeout", "1",
                         "--ascii-labels"])
            assert time.monotonic() - started < 60
    elif server == "closed_port":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: connection refused
            code = main(["card", "publish", redacted_run, "--repo", "me/corpus", "--endpoint", url, "--ascii-labels"])
    else:
        hub.RequestHandlerClass = _Hangup
        url = hub.url
        code = main(["card", "publish", redacted_run, "--repo", "me/corpus", "--endpoint", url, "--ascii-labels"])
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach the Hub at {url}: "), err
    assert "Traceback" not in err and TOKEN not in err
    if server == "silent":
        assert lines[0].endswith("no answer within 1 s (--timeout)")
    assert get_session().timeout == timeout_before  # the bound is put back: other users of the client unaffected


def test_a_small_sample_still_reaches_every_part_file(tmp_path):
    """PII only in the last of three part files: a 6-document sample takes 2 from each and finds it."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "stats.json").write_text(json.dumps({"stages": [{"name": "pii"}]}), encoding="utf-8")
    for part in range(3):
        texts = [f"第{part}-{i}篇。" + ("电话13812345678" if part == 2 and i == 0 else "") for i in range(10)]
        pq.write_table(pa.table({"id": [f"p{part}-{i}" for i in range(10)], "text": texts}),
                       tmp_path / "docs" / f"part-{part:05d}.parquet")
    scan = scan_for_pii(str(tmp_path), files_to_upload(str(tmp_path)), sample=6)
    assert (scan.scanned, scan.total) == (6, 30)
    assert scan.counts == {"PHONE": 1} and scan.examples == {"PHONE": ["p2-0"]} and not scan.clean


def test_an_unreadable_part_file_stops_publishing_with_one_line(redacted_run, tmp_path, no_saved_login, capsys):
    run = tmp_path / "run"
    shutil.copytree(redacted_run, run)
    (run / "docs" / "part-00001.parquet").write_bytes(b"not parquet at all")
    code = main(["card", "publish", str(run), "--repo", "me/c", "--dry-run", "--ascii-labels"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "docs/part-00001.parquet: cannot be read for the PII check" in err[0]
