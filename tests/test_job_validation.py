"""Job files are checked before anything runs; each mistake gets one message naming file, field and expectation."""

from __future__ import annotations

import pytest

from jinglian.cli import main
from jinglian.pipeline.job import JobError, load_job
from tests.helpers import write_jsonl


@pytest.fixture
def data(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": "你好，世界。"}])
    return tmp_path


def job_file(tmp_path, text: str) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(text.replace("IN", str(tmp_path / "in")), encoding="utf-8")
    return str(path)


VALID = """
name: t
output: out
input:
  - {path: "IN/*.jsonl", format: jsonl}
stages:
  - normalize: {form: NFKC}
"""


def test_valid_job_loads(data):
    job = load_job(job_file(data, VALID))
    assert [s.name for s in job.stages] == ["normalize"]
    assert job.stages[0].params.form == "NFKC"
    assert job.inputs[0].files() == [str(data / "in" / "a.jsonl")]


@pytest.mark.parametrize(
    "broken, message",
    [
        (VALID.replace("normalize: {form: NFKC}", "normalise: {}"),
         "job.yaml: stages[0]: unknown stage 'normalise' (expected one of: {stages}, or a plugin's 'package.module:Class'); did you mean 'normalize'?"),
        (VALID.replace("form: NFKC", "from: NFKC"),
         "job.yaml: stages[0].normalize.from: unknown parameter (expected one of: form, max_blank_lines, min_chars); did you mean 'form'?"),
        (VALID.replace("form: NFKC", "min_chars: many"),
         "job.yaml: stages[0].normalize.min_chars: expected an integer, got str 'many'"),
        (VALID.replace("form: NFKC", "form: NFD"),
         "job.yaml: stages[0].normalize.form: expected one of 'NFC', 'NFKC', 'none', got str 'NFD'"),
        (VALID.replace("IN/*.jsonl", "IN/*.json"), "job.yaml: input[0].path: no input file matches"),
        (VALID.replace("format: jsonl", "format: jsnol"),
         "job.yaml: input[0].format: unknown format 'jsnol' (expected one of:"),
        (VALID.replace("name: t\n", ""), "job.yaml: missing required field 'name'"),
        (VALID.replace("output: out", "outptu: out"), "job.yaml: outptu: unknown top level key"),
        (VALID.replace("  - normalize: {form: NFKC}", "  - {normalize: {}, dedup: {}}"),
         "job.yaml: stages[0]: expected one stage name mapping to its parameters"),
        ("name: [unclosed", "job.yaml: not valid YAML"),
        ("- a\n- b\n", "job.yaml: expected a mapping"),
    ],
)
def test_malformed_jobs_get_one_clear_message(data, broken, message):
    from jinglian.stages import STAGES

    path = job_file(data, broken)
    with pytest.raises(JobError) as err:
        load_job(path)
    expected = message.replace("job.yaml", path).replace("{stages}", ", ".join(sorted(STAGES)))
    assert str(err.value).startswith(expected), str(err.value)


def test_cli_exits_nonzero_with_the_message(data, capsys):
    path = job_file(data, VALID.replace("form: NFKC", "min_chars: -x"))
    assert main(["run", path]) == 2
    assert "stages[0].normalize.min_chars: expected an integer" in capsys.readouterr().err


def test_check_only_validates(data, capsys):
    assert main(["run", job_file(data, VALID), "--check"]) == 0
    assert "ok" in capsys.readouterr().out


def test_parameter_values_are_checked_before_anything_runs(data):
    path = job_file(data, VALID.replace("normalize: {form: NFKC}", "dedup: {threshold: 1.5}"))
    with pytest.raises(JobError) as err:
        load_job(path)
    assert str(err.value) == f"{path}: stages[0].dedup.threshold: expected a number in (0, 1], got float 1.5"
