"""Quality classifier: features, training with held-out metrics, the CLI, and the stage (incl. training a
missing model once before the run, streaming in the same segment as its neighbours)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jinglian.core import documents as D
from jinglian.cli import main
from jinglian.demo.corpus import quality_training_sets
from jinglian.pipeline.executor import RunOptions, _segments, run_job
from jinglian.pipeline.job import JobError, load_job
from jinglian.core.context import RunContext
from jinglian.pipeline.apply import StageCounts, apply_stage
from jinglian.stages.quality.features import features
from jinglian.stages.quality.model import QualityModel, balanced, metrics, train
from jinglian.stages.quality.sources import read_texts
from jinglian.stages.quality.stage import QualityParams, QualityStage
from tests.helpers import snapshot, write_job, write_jsonl


@pytest.fixture(scope="module")
def sets():
    pos, neg = quality_training_sets(200, seed=3)
    return pos, neg


@pytest.fixture(scope="module")
def trained(sets, tmp_path_factory):
    model, held_out = train(*sets)
    path = str(tmp_path_factory.mktemp("q") / "quality.bin")
    model.save(path)
    return path, held_out


def test_features_space_cjk_characters_and_mark_structure():
    f = features("长江全长6300公里。\nRiver's length!")
    assert f.split() == ["长", "江", "全", "长", "0", "公", "里", "。", "NL", "river", "'", "s", "length", "!"]
    assert "\n" not in features("a\nb\r\nc")


def test_metrics_counts_both_classes():
    m = metrics(np.array([0.9, 0.8, 0.2, 0.6]), np.array([True, False, False, True]))
    assert (m.precision_hq, m.recall_hq) == (pytest.approx(2 / 3), 1.0)
    assert (m.precision_lq, m.recall_lq) == (1.0, 0.5)


def test_balancing_repeats_the_smaller_class_to_the_larger_ones_count():
    rows = [(f"p{i}", True) for i in range(10)] + [("n0", False), ("n1", False), ("n2", False)]
    out = balanced(rows, seed=0)
    negatives = [t for t, hq in out if not hq]
    assert sum(hq for _, hq in out) == 10 and len(negatives) == 10
    assert {t: negatives.count(t) for t in ("n0", "n1", "n2")} in ({"n0": 4, "n1": 3, "n2": 3},
                                                                    {"n0": 3, "n1": 4, "n2": 3},
                                                                    {"n0": 3, "n1": 3, "n2": 4})
    assert balanced(rows, seed=0) == out  # deterministic


def test_training_separates_clean_from_junk_on_held_out(trained, sets):
    path, held_out = trained
    assert held_out.n == 80 and held_out.f1_hq >= 0.9 and held_out.f1_lq >= 0.9
    model = QualityModel.load(path)
    pos, neg = quality_training_sets(40, seed=99)  # unseen seed
    scores_pos, scores_neg = model.score(pos), model.score(neg)
    assert np.mean(scores_pos >= 0.5) >= 0.9 and np.mean(scores_neg < 0.5) >= 0.9


def test_stage_scores_every_row_and_rejects_below_threshold(trained):
    path, _ = trained
    pos, neg = quality_training_sets(10, seed=7)
    table = D.with_verdict_columns(pa.table({D.TEXT: pos + neg}))
    stage = QualityStage(QualityParams(model=path, threshold=0.5))
    stage.setup()
    counts = StageCounts()
    out = apply_stage(stage, table, counts)
    assert len(out) == 20
    rejected = [r for r in out.to_pylist() if r[D.REASON]]
    assert all(r[D.REASON] == "quality:below_threshold" and r[D.REASON_VALUE] == r["quality_score"] < 0.5
               for r in rejected)
    kept_texts = {r[D.TEXT] for r in out.to_pylist() if not r[D.REASON]}
    assert len(kept_texts & set(pos)) >= 8 and len(kept_texts & set(neg)) <= 2


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="quality train"):
        QualityStage(QualityParams(model=str(tmp_path / "none.bin"))).setup()


def _write_sources(directory, pos, neg):
    (directory / "pos.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in pos),
                                         encoding="utf-8")
    pq.write_table(pa.table({"text": neg}), directory / "neg.parquet")


def test_before_run_trains_the_model_once_when_missing(tmp_path, sets):
    _write_sources(tmp_path, *sets)
    params = QualityParams(model="models/q.bin", train={"positive": "pos.jsonl", "negative": ["neg.parquet"]})
    stage = QualityStage(params, RunContext(output_dir=str(tmp_path), work_dir=str(tmp_path), job_dir=str(tmp_path)))
    stats = stage.before_run()
    assert stats["trained"] and stats["positives"] == 200 and stats["held_out"]["f1_lq"] >= 0.9
    assert (tmp_path / "models/q.bin").exists()
    assert stage.before_run() == {"trained": False}
    stage.setup()
    out = stage.process(D.with_verdict_columns(pa.table({D.TEXT: sets[0][:3]})))
    assert out["quality_score"].to_pylist()[0] >= 0.5
    with pytest.raises(ValueError, match="valid"):
        QualityStage(QualityParams(train={"positive": "a", "negative": "b", "epochs": 3}))


def _job(tmp_path, output, model, train=True, stages_after=({"dedup": {}},)):
    """normalize -> quality (training `model` from pos.jsonl/neg.parquet if missing) -> stages_after."""
    pos, neg = quality_training_sets(15, seed=7)
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": t} for t in pos[:8] + neg[:8]])
    write_jsonl(tmp_path / "in" / "b.jsonl", [{"text": t} for t in pos[8:] + neg[8:]])
    quality = {"model": str(model), "threshold": 0.5}
    if train:
        quality["train"] = {"positive": str(tmp_path / "pos.jsonl"), "negative": str(tmp_path / "neg.parquet")}
    path = write_job(tmp_path / f"{output}.yaml", name="q", output=str(tmp_path / output),
                     input=[{"path": str(tmp_path / "in" / "*.jsonl"), "format": "jsonl"}],
                     stages=[{"normalize": {}}, {"quality": quality}, *stages_after])
    return load_job(path)


def test_job_trains_a_missing_model_once_and_streams_quality_with_its_neighbours(tmp_path, sets, capsys):
    _write_sources(tmp_path, *sets)
    model = tmp_path / "models" / "q.bin"
    job = _job(tmp_path, "out", model)
    assert _segments(job) == [(None, [0, 1]), (2, [2])]  # normalize + quality stream together; dedup is the barrier
    stats = run_job(job, RunOptions(use_ray=False, quiet=True))
    quality = stats["stages"][1]
    assert quality["prepare"]["trained"] and quality["prepare"]["held_out"]["f1_hq"] >= 0.9
    assert quality["docs_in"] == 30 and quality["reasons"]["quality:below_threshold"] >= 13
    work = tmp_path / "out" / "_work"
    assert sorted(p.name for p in work.glob("segment-*")) == ["segment-0"]  # one intermediate pass, not two
    markers = [json.loads(p.read_text()) for p in (work / "segment-0").glob("*.json")]
    assert len(markers) == 2 and all(len(m["stages"]) == 2 for m in markers)
    trained_at = model.stat().st_mtime_ns
    first = snapshot(tmp_path / "out")

    # As if killed during segment 0: one partition and everything after it uncommitted.
    (work / "segment-0" / "part-00001.parquet.json").unlink()
    (work / "barrier-2-dedup.json").unlink()
    shutil.rmtree(tmp_path / "out" / "_parts")
    capsys.readouterr()
    resumed = run_job(job, RunOptions(use_ray=False))
    log = capsys.readouterr().out
    assert "[quality] already prepared before the run (resume)" in log and "1 partitions to run, 1 already committed" in log
    assert model.stat().st_mtime_ns == trained_at and resumed["stages"][1]["prepare"] == quality["prepare"]
    assert snapshot(tmp_path / "out") == first

    again = run_job(_job(tmp_path, "out2", model), RunOptions(use_ray=False, quiet=True))  # a new run, same model
    assert model.stat().st_mtime_ns == trained_at
    assert set(again["stages"][1]["prepare"]) == {"trained", "wall_s"} and not again["stages"][1]["prepare"]["trained"]
    assert again["totals"] == stats["totals"] and again["reasons"] == stats["reasons"]


def test_job_without_model_or_training_sources_fails_before_reading(tmp_path):
    job = _job(tmp_path, "out", tmp_path / "none.bin", train=False, stages_after=())
    with pytest.raises(JobError, match="model not found"):
        run_job(job, RunOptions(use_ray=False, quiet=True))
    assert not (tmp_path / "out" / "_parts").exists()


def test_cli_train_and_eval(tmp_path, sets, capsys):
    pos, neg = sets
    (tmp_path / "pos.txt").write_text("\n".join(t.replace("\n", " ") for t in pos), encoding="utf-8")
    (tmp_path / "neg.jsonl").write_text("".join(json.dumps({"body": t}) + "\n" for t in neg), encoding="utf-8")
    out = tmp_path / "m.bin"
    args = ["--positive", str(tmp_path / "pos.txt"), "--negative", str(tmp_path / "neg.jsonl"), "--text-field", "body"]
    assert main(["quality", "train", *args, "--output", str(out), "--json"]) == 0
    held_out = json.loads(capsys.readouterr().out)
    assert held_out["n"] == 80 and held_out["f1_hq"] >= 0.9
    assert main(["quality", "eval", *args, "--model", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "precision" in printed and "recall" in printed and "F1" in printed


def test_read_texts_rejects_bad_jsonl(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"other": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_texts([tmp_path / "bad.jsonl"])


def test_training_failure_in_the_child_process_is_reported(tmp_path):
    from jinglian.stages.quality import train_process

    with pytest.raises(RuntimeError, match="fastText training failed"):
        train_process.run(str(tmp_path / "missing.txt"), str(tmp_path / "m.bin"), {"epoch": 1})
    assert not (tmp_path / "m.bin").exists()


def test_features_read_the_prose_of_a_table_layout_page_not_its_furniture():
    article = "洞庭湖是中国第二大淡水湖，湖区气候温和，物产丰富，自古就有鱼米之乡的美称。"
    page = "\n".join(["| 日 | 一 | 二 | 三 | 四 | 五 | 六 |", "| 1 | 2 | 3 | 4 | 5 | 6 | 7 |", f"| 文章 | {article} |"])
    tokens = features(page).split()
    assert "|" not in tokens and "一" not in tokens[:5]  # the calendar's cells are not read
    assert "".join(t for t in tokens if t != "NL") == features(article).replace(" ", "")
