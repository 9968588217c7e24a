"""Character n-gram language model: a proper distribution, lower perplexity on held-out text of the language it
was trained on than on garbled text, deterministic scores; the ``perplexity`` stage and the CLI."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from jinglian.core import documents as D
from jinglian.cli import main
from jinglian.demo.corpus import quality_training_sets
from jinglian.core.context import RunContext
from jinglian.pipeline.apply import StageCounts, apply_stage
from jinglian.stages.perplexity.model import CharNgramLM, LMConfig
from jinglian.stages.perplexity.stage import COLUMN, REASON, PerplexityParams, PerplexityStage
from tests.helpers import write_jsonl


def _chinese(texts: list[str]) -> list[str]:
    return [t for t in texts if sum("\u4e00" <= c <= "\u9fff" for c in t) > len(t) / 2]


@pytest.fixture(scope="module")
def corpus():
    train_docs = _chinese(quality_training_sets(160, seed=11)[0])
    held_out = _chinese(quality_training_sets(40, seed=12)[0])
    assert len(train_docs) >= 40 and len(held_out) >= 10
    return train_docs, held_out


@pytest.fixture(scope="module")
def lm(corpus):
    return CharNgramLM.train(corpus[0], LMConfig(order=4))


def _shuffled(text: str, seed: int) -> str:
    chars = list(text.replace("\n", ""))
    random.Random(seed).shuffle(chars)
    return "".join(chars)


def test_every_conditional_distribution_sums_to_one(lm, corpus):
    line = corpus[1][0].split("\n")[1]
    for context in ("", line[:1], line[:3], line[:10], "从未见过的上下文"):
        p = lm.next_symbol_probs(context)
        assert p.sum() == pytest.approx(1.0, abs=1e-4) and (p > 0).sum() >= lm.vocab_size - 1


def test_held_out_text_scores_lower_than_the_same_characters_shuffled(lm, corpus):
    held_out = corpus[1]
    clean = lm.perplexity(held_out)
    garbled = lm.perplexity([_shuffled(t, i) for i, t in enumerate(held_out)])
    assert np.all(clean < garbled)
    assert np.median(garbled / clean) > 3


def test_one_bad_line_does_not_doom_a_long_document(lm, corpus):
    doc = corpus[1][0]
    bad_line = _shuffled(doc.split("\n")[1], 0)[:40]
    alone, mixed, clean = lm.perplexity([bad_line, doc + "\n" + bad_line, doc])
    assert clean < mixed < alone
    # lines are scored apart and weighted by their length (characters + end of line), as CCNet does
    n_doc = sum(len(line.strip()) + 1 for line in doc.split("\n") if line.strip())
    n_bad = len(bad_line) + 1
    expected = (n_doc * np.log(clean) + n_bad * np.log(alone)) / (n_doc + n_bad)
    assert np.log(mixed) == pytest.approx(expected, rel=1e-9)


def test_scores_do_not_depend_on_the_batch_and_survive_save_and_load(lm, corpus, tmp_path):
    texts = corpus[1][:8] + ["", "只有一行", "Mixed 中英 text 123"]
    together = lm.perplexity(texts)
    alone = np.array([lm.perplexity([t])[0] for t in texts])
    np.testing.assert_array_equal(together, alone)
    assert np.isinf(together[len(texts) - 3])  # nothing to score
    path = tmp_path / "lm.bin"
    lm.save(str(path))
    np.testing.assert_array_equal(CharNgramLM.load(str(path)).perplexity(texts), together)
    again = CharNgramLM.train(corpus[0], LMConfig(order=4))
    np.testing.assert_array_equal(again.perplexity(texts), together)


def test_normalisation_maps_digits_and_width_variants_together(lm):
    a, b, c = lm.perplexity(["今年共有2016人参加", "今年共有９９９９人参加", "今年共有８８８８人参加"])
    assert a == b == c


def test_pruning_keeps_a_distribution_and_shrinks_the_model(corpus):
    full = CharNgramLM.train(corpus[0], LMConfig(order=4, prune_below=1))
    pruned = CharNgramLM.train(corpus[0], LMConfig(order=4, prune_below=2))
    assert sum(len(t["keys"]) for t in pruned.tables) < sum(len(t["keys"]) for t in full.tables)
    assert pruned.next_symbol_probs(corpus[1][0][:3]).sum() == pytest.approx(1.0, abs=1e-4)


def _table(texts):
    return D.with_verdict_columns(pa.table({D.TEXT: texts}))


def test_stage_adds_the_column_and_rejects_above_the_threshold(lm, corpus, tmp_path):
    path = str(tmp_path / "lm.bin")
    lm.save(path)
    texts = corpus[1][:6] + [_shuffled(t, 1) for t in corpus[1][:6]]
    expected = lm.perplexity(texts)
    threshold = float(np.sqrt(expected[:6].max() * expected[6:].min()))  # between the two groups

    measuring = PerplexityStage(PerplexityParams(model=path))
    measuring.setup()
    out = apply_stage(measuring, _table(texts), StageCounts())
    np.testing.assert_allclose(out[COLUMN].to_numpy(), expected)
    assert all(r is None for r in out[D.REASON].to_pylist())

    rule = PerplexityStage(PerplexityParams(model=path, max_perplexity=threshold))
    rule.setup()
    rows = apply_stage(rule, _table(texts), StageCounts()).to_pylist()
    assert [r[D.REASON] for r in rows] == [None] * 6 + [REASON] * 6
    assert all(r[D.REASON_VALUE] == r[COLUMN] > threshold for r in rows[6:])


def test_stage_trains_a_missing_model_before_the_run(corpus, tmp_path):
    write_jsonl(tmp_path / "clean.jsonl", [{"body": t} for t in corpus[0]])
    ctx = RunContext(output_dir=str(tmp_path), work_dir=str(tmp_path), job_dir=str(tmp_path))
    params = PerplexityParams(model="lm.bin", train={"texts": ["clean.jsonl"], "text_field": "body", "order": 3})
    stats = PerplexityStage(params, ctx).before_run()
    assert stats["trained"] and stats["texts"] == len(corpus[0]) and len(stats["ngrams"]) == 3
    assert PerplexityStage(params, ctx).before_run() == {"trained": False}
    with pytest.raises(ValueError, match="max_perplexity"):
        PerplexityStage(PerplexityParams(max_perplexity=0.5))
    with pytest.raises(ValueError, match="unknown train option"):
        PerplexityStage(PerplexityParams(train={"texts": ["x"], "ordr": 3}))
    with pytest.raises(FileNotFoundError, match="perplexity train"):
        PerplexityStage(PerplexityParams(model=str(tmp_path / "none.bin"))).setup()


def test_cli_train_then_score_round_trip(corpus, tmp_path, capsys):
    write_jsonl(tmp_path / "clean.jsonl", [{"text": t} for t in corpus[0]])
    probe = [corpus[1][0], _shuffled(corpus[1][0], 3)]
    write_jsonl(tmp_path / "probe.jsonl", [{"text": t} for t in probe])
    assert main(["perplexity", "train", str(tmp_path / "clean.jsonl"), "-o", str(tmp_path / "lm.bin"),
                 "--order", "4"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["perplexity", "score", str(tmp_path / "probe.jsonl"), "-m", str(tmp_path / "lm.bin"),
                 "--lines"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = CharNgramLM.train(corpus[0], LMConfig(order=4)).perplexity(probe)
    assert [r["perplexity"] for r in rows] == [round(float(v), 3) for v in expected]
    assert rows[0]["perplexity"] < rows[1]["perplexity"] and len(rows[0]["lines"]) == probe[0].count("\n") + 1


def test_job_trains_the_model_then_rejects_garbled_documents(corpus, tmp_path):
    from jinglian.pipeline.executor import RunOptions, run_job
    from jinglian.pipeline.job import load_job
    from tests.helpers import write_job

    write_jsonl(tmp_path / "clean.jsonl", [{"text": t} for t in corpus[0]])
    docs = [{"id": f"c{i}", "text": t} for i, t in enumerate(corpus[1][:6])]
    docs += [{"id": f"g{i}", "text": _shuffled(t, i)} for i, t in enumerate(corpus[1][:6])]
    write_jsonl(tmp_path / "in" / "docs.jsonl", docs)
    stage = {"model": str(tmp_path / "lm.bin"), "max_perplexity": 100.0,
             "train": {"texts": [str(tmp_path / "clean.jsonl")], "order": 4}}
    path = write_job(tmp_path / "job.yaml", name="ppl", output=str(tmp_path / "out"),
                     input=[{"path": str(tmp_path / "in" / "*.jsonl"), "format": "jsonl"}],
                     stages=[{"normalize": {}}, {"perplexity": stage}])
    stats = run_job(load_job(path), RunOptions(use_ray=False, quiet=True))
    ppl = stats["stages"][1]
    assert ppl["prepare"]["trained"] and ppl["docs_in"] == 12
    assert ppl["reasons"] == {REASON: 6}
