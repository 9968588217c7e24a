"""Job files and pretraining configs go through one validator: the same mistake gets the same kind of message
(file, dotted field, what was expected, what was found), and the CLI prints it as one line."""

from __future__ import annotations

import re

import pytest

from jinglian.cli import main
from jinglian.core.config import ConfigError, Where, bounds, build, parse_yaml
from jinglian.pipeline.job import JobError, load_job
from jinglian.pretrain.config import load as load_pretrain
from tests.helpers import write_jsonl

JOB = """
name: t
output: out
input:
  - {path: "IN/*.jsonl", format: jsonl}
stages:
  - normalize: {form: NFKC}
  - dedup: {threshold: 0.8}
"""

CONFIG = """
model: {vocab_size: 256}
data: {tokens_dir: null, seq_len: 16}
parallel: {dp: 1}
optim: {lr: 3.0e-3}
train: {steps: 2}
"""

# (mistake, job edit, message after the file name, config edit, message after the file name, what both share)
MISTAKES = [
    ("unknown key with a near name",
     ("form: NFKC", "fomr: NFKC"),
     "stages[0].normalize.fomr: unknown parameter (expected one of: form, max_blank_lines, min_chars); did you mean 'form'?",
     ("lr: 3.0e-3", "lrr: 3.0e-3"),
     "optim.lrr: unknown key (expected one of: lr, min_lr, warmup_steps, weight_decay, beta1, beta2, eps, grad_clip); "
     "did you mean 'lr'?",
     r"unknown \w+ \(expected one of: [\w, ]+\); did you mean '\w+'\?"),
    ("wrong type (true is no integer)",
     ("form: NFKC", "min_chars: true"), "stages[0].normalize.min_chars: expected an integer, got bool True",
     ("steps: 2", "steps: true"), "train.steps: expected an integer, got bool True",
     r"expected an integer, got bool True"),
    ("string where a number is expected",
     ("threshold: 0.8", "threshold: '5e-1'"), "stages[1].dedup.threshold: expected a number, got str '5e-1'",
     ("lr: 3.0e-3", "lr: '1e-4'"), "optim.lr: expected a number, got str '1e-4'",
     r"expected a number, got str '\de-\d'"),
    ("missing required field",
     ("stages:", "pretrain: {steps: 3}\nstages:"), "pretrain: missing required field 'config'",
     ("model: {vocab_size: 256}", "model: {init_from: {tokenizer: t.model}}"),
     "model.init_from: missing required field 'hf' or 'checkpoint': give exactly one of hf (a Hugging Face directory) "
     "or checkpoint",
     r"missing required field '\w+'"),
    ("value out of range",
     ("threshold: 0.8", "threshold: 1.5"), "stages[1].dedup.threshold: expected a number in (0, 1], got float 1.5",
     ("dp: 1", "dp: 0"), "parallel.dp: expected an integer >= 1, got int 0",
     r"expected (a number|an integer) (in \(0, 1\]|>= 1), got \w+ [\d.]+"),
]


@pytest.fixture
def files(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": "你好，世界。"}])

    def write(name: str, text: str, edit: tuple[str, str] | None = None) -> str:
        if edit:
            assert edit[0] in text
            text = text.replace(*edit)
        path = tmp_path / name
        path.write_text(text.replace("IN", str(tmp_path / "in")), encoding="utf-8")
        return str(path)

    return write


def test_the_valid_files_load(files):
    assert load_job(files("job.yaml", JOB)).stages[1].params.threshold == 0.8
    assert load_pretrain(files("cfg.yaml", CONFIG)).optim.lr == 3.0e-3


@pytest.mark.parametrize("mistake, job_edit, job_msg, cfg_edit, cfg_msg, shared", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_the_same_mistake_gets_the_same_kind_of_message(files, mistake, job_edit, job_msg, cfg_edit, cfg_msg, shared):
    job = files("job.yaml", JOB, job_edit)
    with pytest.raises(JobError) as job_err:
        load_job(job)
    cfg = files("cfg.yaml", CONFIG, cfg_edit)
    with pytest.raises(ConfigError) as cfg_err:
        load_pretrain(cfg)
    assert str(job_err.value) == f"{job}: {job_msg}"
    assert str(cfg_err.value) == f"{cfg}: {cfg_msg}"
    for message in (job_msg, cfg_msg):  # after "file: dotted.field: " both say the same kind of thing
        assert re.fullmatch(r"[\w\[\].]+: " + shared + ".*", message), message


def test_an_exponent_without_a_dot_is_a_number_in_both(files):
    job = load_job(files("job.yaml", JOB, ("threshold: 0.8", "threshold: 5e-1")))
    cfg = load_pretrain(files("cfg.yaml", CONFIG, ("lr: 3.0e-3", "lr: 1e-4")))
    assert job.stages[1].params.threshold == 0.5
    assert cfg.optim.lr == 1e-4
    assert parse_yaml("[1e3, -2E-2, 12, 1_000, .5, '1e-4', 0x1f]") == [1000.0, -0.02, 12, 1000, 0.5, "1e-4", 31]


def test_cli_prints_one_line_and_exits_2_for_both(files, capsys):
    job = files("job.yaml", JOB, ("threshold: 0.8", "threshold: '5e-1'"))
    assert main(["run", job]) == 2
    run_err = capsys.readouterr().err
    cfg = files("cfg.yaml", CONFIG, ("lr: 3.0e-3", "lr: '1e-4'"))
    assert main(["pretrain", "--config", cfg, "--check"]) == 2
    pretrain_err = capsys.readouterr().err
    assert run_err == f"error: {job}: stages[1].dedup.threshold: expected a number, got str '5e-1'\n"
    assert pretrain_err == f"error: {cfg}: optim.lr: expected a number, got str '1e-4'\n"


def test_pretrain_cli_names_overrides_missing_files_and_cross_field_rules(files, capsys):
    cfg = files("cfg.yaml", CONFIG)
    assert main(["pretrain", "--config", cfg, "--check", "--set", "optim.lr=1e-4"]) == 0
    assert main(["pretrain", "--config", cfg, "--check", "--set", "parallel.tp=[2"]) == 2
    assert capsys.readouterr().err.startswith("error: --set 'parallel.tp=[2': not valid YAML")
    assert main(["pretrain", "--config", cfg + ".missing", "--check"]) == 2
    assert capsys.readouterr().err == f"error: {cfg}.missing: no such config file\n"
    assert main(["pretrain", "--config", cfg, "--check", "--set", "parallel.tp=2", "--set", "parallel.dp_mode=ddp"]) == 2
    assert capsys.readouterr().err == f"error: {cfg}: parallel.dp_mode ddp does not combine with tp > 1: use fsdp\n"


def test_bounds_are_checked_for_objects_built_in_code_too():
    from jinglian.stages.dedup.stage import DedupParams, DedupStage

    with pytest.raises(ValueError, match=r"^dedup.num_perm: expected an integer >= 2, got int 1$"):
        DedupStage(DedupParams(num_perm=1))


def test_unknown_init_from_key_gets_a_suggestion(files):
    cfg = files("cfg.yaml", CONFIG, ("model: {vocab_size: 256}", "model: {init_from: {checkpiont: ckpt}}"))
    with pytest.raises(ConfigError) as err:
        load_pretrain(cfg)
    assert str(err.value) == (f"{cfg}: model.init_from.checkpiont: unknown key (expected one of: hf, checkpoint, "
                              "tokenizer, new_rows); did you mean 'checkpoint'?")


def test_range_descriptions():
    from dataclasses import dataclass, field

    @dataclass
    class P:
        a: float = field(default=0.5, metadata=bounds(ge=0, lt=1))
        b: int | None = field(default=None, metadata=bounds(le=10))

    assert build(P, {"b": None}, Where("f.yaml")).b is None
    with pytest.raises(ConfigError, match=r"^f.yaml: a: expected a number in \[0, 1\), got float 1.0$"):
        build(P, {"a": 1}, Where("f.yaml"))
    with pytest.raises(ConfigError, match=r"^f.yaml: b: expected an integer <= 10, got int 11$"):
        build(P, {"b": 11}, Where("f.yaml"))


def test_a_jobs_pretraining_config_is_checked_before_the_run(files):
    cfg = files("cfg.yaml", CONFIG, ("dp: 1", "dp: 0"))
    job = files("job.yaml", JOB, ("stages:", f"pretrain: {{config: {cfg}, steps: 3}}\nstages:"))
    with pytest.raises(JobError) as err:
        load_job(job)
    assert str(err.value) == f"{cfg}: parallel.dp: expected an integer >= 1, got int 0"
    fixed = files("cfg.yaml", CONFIG)
    assert load_job(job).pretrain.config == fixed
