"""Dataset cards built from real runs: a normalize-only run, and a run with language ID, quality
scoring, dedup, PII redaction and token shards. dedup and tokenize are the real stages; langid,
quality and pii are small stand-ins defined here (registered for this module only) that write
what those stages write: `lang`, `quality_score`, `quality:*` rejections, replacement counts."""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest
import sentencepiece as spm
import yaml
from huggingface_hub import DatasetCard
from matplotlib.image import imread

from jinglian.core import documents as D
from jinglian.cards.card import CardOptions, build_card, hub_languages, size_category
from jinglian.cards.plots import _Labels, find_cjk_font, write_plots
from jinglian.cards.rundata import load_run
from jinglian.cli import main
from jinglian.pipeline.executor import RunOptions, run_job
from jinglian.pipeline.job import load_job
from jinglian.stages import STAGES
from jinglian.core.stage import Stage
from jinglian.tokenizers.model import write_sidecar

# ---------------------------------------------------------------- stand-in stages


@dataclass
class FakeLangidParams:
    cjk_ratio: float = 0.3  # more CJK characters than this share: zh


class FakeLangid(Stage):
    name = "langid"
    Params = FakeLangidParams

    def process(self, batch: pa.Table) -> pa.Table:
        langs, scores = [], []
        for text in batch[D.TEXT].to_pylist():
            cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text) / max(1, len(text))
            langs.append("zh" if cjk > self.params.cjk_ratio else "en")
            scores.append(0.9)
        return batch.append_column("lang", pa.array(langs)).append_column("lang_score", pa.array(scores))


@dataclass
class FakeQualityParams:
    threshold: float = 0.3  # documents scoring below this are rejected


class FakeQuality(Stage):
    name = "quality"
    Params = FakeQualityParams

    def process(self, batch: pa.Table) -> pa.Table:
        scores = np.array([min(1.0, len(t) / 200) for t in batch[D.TEXT].to_pylist()])
        batch = batch.append_column("quality_score", pa.array(scores))
        return D.reject(batch, scores < self.params.threshold, "quality:low_score", scores)


@dataclass
class FakePiiParams:
    placeholder: str = "<EMAIL>"  # what an e-mail address becomes


class FakePii(Stage):
    name = "pii"
    Params = FakePiiParams
    EMAIL = re.compile(r"[\w.]+@[\w.]+\.\w+")

    def process(self, batch: pa.Table) -> pa.Table:
        texts = []
        for text in batch[D.TEXT].to_pylist():
            text, n = self.EMAIL.subn(self.params.placeholder, text)
            self.count("replacements", "email", n=n)
            texts.append(text)
        return batch.set_column(batch.schema.get_field_index(D.TEXT), D.TEXT, pa.array(texts, pa.string()))

    def counters(self) -> dict:
        return {"replacements": {"email": 0}}


@pytest.fixture(scope="module", autouse=True)
def stand_in_stages():
    with pytest.MonkeyPatch.context() as mp:
        for name, cls in (("langid", FakeLangid), ("quality", FakeQuality), ("pii", FakePii)):
            mp.setitem(STAGES, name, f"{__name__}:{cls.__name__}")
        yield


# ---------------------------------------------------------------- runs

ZH = ["今天北京的天气很好，我们去公园散步，看到很多人在跳舞。", "这本书讲述了一个关于友谊和成长的故事，值得一读。",
      "城市交通正在改善，地铁线路不断延长，市民出行更加方便。", "研究人员发现，适量运动有助于改善睡眠质量和情绪。"]
EN = ["The library opens at nine and closes late on weekdays for students.",
      "A small bakery on the corner sells fresh bread every single morning.",
      "Researchers measured rainfall across the valley for ten consecutive years.",
      "The committee approved the new budget after a long public discussion."]


def _docs(seed: int, n: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        pool = ZH if i % 2 else EN
        sentences = [pool[j] for j in rng.integers(0, len(pool), int(rng.integers(1, 12)))]
        text = ("" if pool is ZH else " ").join(sentences) + f" #{seed}-{i}"
        if i % 7 == 0:
            text += " contact: someone%d@example.com" % i
        docs.append({"id": f"s{seed}-{i}", "text": text})
    docs[3]["text"] = "  \u200b "  # empty after normalisation
    docs.append({"id": f"s{seed}-dup", "text": docs[5]["text"]})  # exact duplicate
    docs.append({"id": f"s{seed}-near", "text": docs[7]["text"].replace(f"#{seed}-7", "")})  # near duplicate
    return docs


def _write_jsonl(path, docs, broken=False) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
        if broken:
            f.write("{not json\n")


def _run(root, stages: list, sources=("web", "books"), name="cards") -> str:
    inputs = []
    for k, source in enumerate(sources):
        path = os.path.join(root, f"in-{k}.jsonl")
        _write_jsonl(path, _docs(k, 40), broken=k == 1)
        inputs.append({"path": path, "format": "jsonl", "source": source})
    out = os.path.join(root, "out")
    job_file = os.path.join(root, "job.yaml")
    with open(job_file, "w", encoding="utf-8") as f:
        yaml.safe_dump({"name": name, "description": "Card test run.", "input": inputs, "output": out, "stages": stages}, f,
                       allow_unicode=True)
    run_job(load_job(job_file), RunOptions(use_ray=False, quiet=True))
    return out


def _train_tokenizer(root) -> str:
    prefix = os.path.join(root, "sp")
    spm.SentencePieceTrainer.train(sentence_iterator=iter(ZH + EN), model_prefix=prefix, vocab_size=300, model_type="char",
                                   character_coverage=1.0, byte_fallback=True, minloglevel=3)
    return prefix + ".model"


@pytest.fixture(scope="module")
def basic_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("basic")
    return _run(str(root), [{"normalize": {"form": "NFKC"}}], sources=("网页", "books"), name="基础")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("full"))
    model = _train_tokenizer(root)
    out = _run(root, [{"normalize": {}}, {"langid": {}}, {"quality": {"threshold": 0.3}}, {"dedup": {}},
                      {"pii": {}}, {"tokenize": {"tokenizer": model, "valid_ratio": 0.2}}])
    # The tokenizer the run used, as a tokenizer-training step leaves it in the run directory.
    os.makedirs(os.path.join(out, "tokenizer"))
    shutil.copyfile(model, os.path.join(out, "tokenizer", "tokenizer.model"))
    write_sidecar(os.path.join(out, "tokenizer", "tokenizer.model"), {"model_type": "char", "vocab_size": 300})
    return out


def _stats(run) -> dict:
    with open(os.path.join(run, "stats.json"), encoding="utf-8") as f:
        return json.load(f)


def _table_after(md: str, heading: str) -> list[dict]:
    """Rows (header -> cell) of the first Markdown table after ``heading``."""
    lines = md[md.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    header = [c.strip() for c in lines[start].strip().strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip().strip("|").split("|")))))
    return rows


def _num(cell: str) -> float:
    return float(cell.replace(",", ""))


def _code(cell: str) -> str:
    return cell.strip("`")


def _section(md: str, heading: str) -> str:
    start = md.index(heading)
    end = md.find("\n## ", start + len(heading))
    return md[start:] if end < 0 else md[start:end]


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("run_name", ["basic_run", "full_run"])
def test_numbers_equal_stats_json(run_name, request):
    run = request.getfixturevalue(run_name)
    card, path = build_card(run, cjk_font=False)
    md = str(card)
    stats = _stats(run)

    steps = _table_after(md, "### Documents per step")
    assert [_code(r["step"]) for r in steps] == [s["name"] for s in stats["stages"]]
    for row, s in zip(steps, stats["stages"]):
        for col, key in [("docs in", "docs_in"), ("docs out", "docs_out"), ("rejected", "rejected"), ("failed", "failed"),
                         ("added", "added"), ("text bytes in", "bytes_in"), ("text bytes out", "bytes_out")]:
            assert _num(row[col]) == s[key], (s["name"], col)

    sources = {_code(r["source"]): r for r in _table_after(md, "### Per source")}
    assert set(sources) == set(stats["sources"])
    for name, v in stats["sources"].items():
        assert _num(sources[name]["kept"]) == v.get("kept", 0)
        assert _num(sources[name]["rejected"]) == v.get("rejected", 0)
        assert _num(sources[name]["failed"]) == v.get("failed", 0)
        assert _num(sources[name]["characters (kept)"]) == v["chars"]

    reasons = {_code(r["reason"]): _num(r["documents"]) for r in _table_after(md, "### Rejections per rule")}
    assert reasons == stats["reasons"]
    langs = {_code(r["language"]): (_num(r["documents"]), _num(r["characters"])) for r in _table_after(md, "### Language mix")}
    assert langs == {k: (v["docs"], v["chars"]) for k, v in stats["langs"].items()}
    t = stats["totals"]
    assert f"read {t['read']:,} = kept {t['kept']:,} + rejected {t['rejected']:,} + failed {t['failed']:,}" in md
    assert f"**{t['kept']:,}** documents kept" in md


def test_card_without_optional_stages(basic_run):
    os.makedirs(os.path.join(basic_run, "report"), exist_ok=True)
    with open(os.path.join(basic_run, "report", "duplicates.png"), "wb") as f:  # from an earlier build: must go
        f.write(b"stale")
    card, path = build_card(basic_run)
    assert path == os.path.join(basic_run, "README.md")
    loaded = DatasetCard.load(path)
    meta = loaded.data.to_dict()
    assert meta["license"] == "other"
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["pretty_name"] == "基础"
    assert "language" not in meta  # no language identification ran
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "docs/*.parquet"}], "default": True}]
    md = loaded.content
    assert "No deduplication step ran" in md
    assert "This run was not tokenized." in md
    assert "No PII redaction step ran" in md
    assert "Duplicates were not removed." in md
    # the normalize step with its effective parameters, including defaults and their documentation
    params = {_code(r["parameter"]): r for r in _table_after(md, "### 1. `normalize`")}
    assert params["form"]["value"] == '`"NFKC"`' and params["form"]["set by"] == "job"
    assert params["min_chars"]["set by"] == "default" and "empty" in params["min_chars"]["meaning"]
    assert sorted(os.listdir(os.path.join(basic_run, "report"))) == ["funnel.png", "lengths.png", "rejections.png"]
    for name in ("funnel", "lengths", "rejections"):
        assert f"](report/{name}.png)" in md
        assert imread(os.path.join(basic_run, "report", f"{name}.png")).shape[0] > 200


def test_card_with_every_optional_stage(full_run):
    card, path = build_card(full_run, license="cc-by-4.0", repo_id="someone/corpus")
    stats = _stats(full_run)
    with open(os.path.join(full_run, "tokens", "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    meta = DatasetCard.load(path).data.to_dict()
    assert meta["license"] == "cc-by-4.0"
    langs = stats["langs"]
    assert meta["language"] == sorted(langs, key=lambda k: -langs[k]["docs"]) and set(meta["language"]) == {"zh", "en"}
    tokens_config = next(c for c in meta["configs"] if c["config_name"] == "tokens")
    for entry in tokens_config["data_files"]:
        files = glob.glob(os.path.join(full_run, entry["path"]))
        assert len(files) == manifest["totals"][entry["split"]]["shards"] > 0
    md = str(card)

    dedup = next(s for s in stats["stages"] if s["name"] == "dedup")
    assert dedup["rejected"] > 0
    section = _section(md, "## Deduplication")
    reported = {_code(r["statistic"]): r["value"] for r in _table_after(section, "Statistics reported by the step")}
    assert _num(reported["clusters.exact"]) == dedup["prepare"]["clusters"]["exact"]
    assert _num(reported["clusters.near"]) == dedup["prepare"]["clusters"]["near"]
    clusters = {_num(r["cluster size"]): _num(r["clusters"]) for r in _table_after(section, "| cluster size")}
    assert sum((size - 1) * n for size, n in clusters.items()) == dedup["rejected"]  # every duplicate in one cluster

    pii = next(s for s in stats["stages"] if s["name"] == "pii")
    replaced = {_code(r["replacement"]): _num(r["count"]) for r in _table_after(_section(md, "## PII handling"), "| replacement")}
    assert replaced == {"replacements.email": pii["extra"]["replacements"]["email"]} and replaced["replacements.email"] > 0

    section = _section(md, "## Tokenizer and token shards")
    total = sum(t["tokens"] for t in manifest["totals"].values())
    assert f"**{total:,}** tokens" in section
    assert f"vocabulary size {spm.SentencePieceProcessor(model_file=os.path.join(full_run, 'tokenizer', 'tokenizer.model')).get_piece_size():,}" in section
    splits = {r["split"]: _num(r["tokens"]) for r in _table_after(section, "| split")}
    assert splits == {k: v["tokens"] for k, v in manifest["totals"].items()}
    per_source = {_code(r["source"]): _num(r["tokens"]) for r in _table_after(section, "| source")}
    assert per_source == {k: v["train"]["tokens"] + v["valid"]["tokens"] for k, v in manifest["sources"].items()}
    sources = {_code(r["source"]): _num(r["tokens"]) for r in _table_after(md, "### Per source")}
    assert sources == per_source  # stats.json's source names joined with the manifest's shard directories
    assert "`model_type` | char" in section  # the tokenizer's sidecar

    assert "quality:low_score" in stats["reasons"]
    assert "### Quality scores" in md
    assert 'load_dataset("someone/corpus", split="train")' in md
    assert "hf://datasets/someone/corpus/docs/*.parquet" in md
    assert sorted(os.listdir(os.path.join(full_run, "report"))) == sorted(
        f"{n}.png" for n in ("funnel", "rejections", "lengths", "quality", "duplicates", "tokens"))


def test_distributions_come_from_the_parquet_outputs(full_run):
    data = load_run(full_run)
    stats = _stats(full_run)
    assert {k: len(v) for k, v in data.lengths.items()} == {k: v["docs"] for k, v in stats["langs"].items()}
    assert {k: int(v.sum()) for k, v in data.lengths.items()} == {k: v["chars"] for k, v in stats["langs"].items()}
    assert len(data.quality["kept"]) == stats["totals"]["kept"]
    by_quality = data.quality["rejected by quality"]
    assert len(by_quality) == stats["reasons"]["quality:low_score"] and (by_quality < 0.3).all()
    assert len(data.quality["rejected by dedup"]) == stats["reasons"]["dedup:exact"] + stats["reasons"]["dedup:near"]
    assert {r: sum(c.values()) for r, c in data.rejected_by_source.items()} == stats["reasons"]
    sampled = load_run(full_run, max_docs=10)
    assert sampled.sampled_docs == 10 and sum(len(v) for v in sampled.lengths.values()) == 10


def test_card_options_are_build_card_arguments(basic_run, tmp_path):
    """A job's `card:` section, validated as CardOptions, is passed to build_card as keywords."""
    options = CardOptions(license="mit", pretty_name="Demo corpus", repo_id="me/demo", max_docs=5)
    card, _ = build_card(basic_run, output=str(tmp_path / "README.md"), cjk_font=False, **dataclasses.asdict(options))
    assert (card.data.license, card.data.pretty_name) == ("mit", "Demo corpus")
    assert "Measured on the first 5 of" in card.content


def test_metadata_helpers():
    assert size_category(0) == "n<1K" and size_category(999) == "n<1K" and size_category(1000) == "1K<n<10K"
    assert size_category(5 * 10**12) == "n>1T"
    assert hub_languages({"zh_Hans": {"docs": 5}, "en": {"docs": 9}, "zh": {"docs": 1}, "unknown": {"docs": 50}}) == ["en", "zh"]


def _glyph_warnings(record) -> list:
    return [w for w in record if "missing from" in str(w.message)]


def test_plots_without_cjk_font_use_ascii_labels(basic_run):
    assert _Labels(None)("网页") == "\\u7f51\\u9875"
    assert _Labels(None)("books") == "books"
    report = os.path.join(basic_run, "report-ascii")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        plots = write_plots(load_run(basic_run), report, cjk_font=False)
    assert not _glyph_warnings(record)
    assert [os.path.basename(p.file) for p in plots] == ["funnel.png", "rejections.png", "lengths.png"]


def test_plots_with_cjk_font_draw_chinese_labels(basic_run):
    font = find_cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (Debian: fonts-wqy-microhei or fonts-noto-cjk)")
    assert _Labels(font)("网页") == "网页"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        write_plots(load_run(basic_run), os.path.join(basic_run, "report-cjk"), cjk_font=font)
    assert not _glyph_warnings(record)


def test_card_build_command(basic_run, tmp_path, capsys):
    output = tmp_path / "card" / "README.md"
    output.parent.mkdir()
    assert main(["card", "build", basic_run, "--output", str(output), "--license", "apache-2.0", "--ascii-labels"]) == 0
    assert str(output) in capsys.readouterr().out
    card = DatasetCard.load(output)
    assert card.data.license == "apache-2.0"
    rel = os.path.relpath(os.path.join(basic_run, "report", "funnel.png"), output.parent)
    assert f"]({rel})" in card.content  # plots linked relative to where the card is
    assert main(["card", "build", str(tmp_path)]) == 2
    assert "no stats.json" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["docs", "rejected"])
def test_damaged_part_file_is_one_line_naming_it(basic_run, tmp_path, capsys, kind):
    run = str(tmp_path / "run")
    shutil.copytree(basic_run, run)
    part = sorted(glob.glob(os.path.join(run, kind, "**", "*.parquet"), recursive=True))[0]
    with open(part, "r+b") as f:  # keep the size, break the footer
        f.seek(-12, os.SEEK_END)
        f.write(b"\0" * 12)
    assert main(["card", "build", run, "--output", str(tmp_path / "README.md"), "--ascii-labels"]) == 2
    err = capsys.readouterr().err
    assert os.path.basename(part) in err and "not readable Parquet" in err
    assert "Traceback" not in err
