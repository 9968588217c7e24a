import collections
import html
import json
import re

import pytest

from jinglian.demo.corpus import (
    KINDS,
    encode_page,
    generate_demo_inputs,
    generate_documents,
    jaccard,
    normalize,
    quality_training_sets,
    render_html,
    shingles,
)
from jinglian.demo.pii import luhn_valid, valid_resident_id


@pytest.fixture(scope="module")
def docs():
    return generate_documents(300, seed=1)


def test_same_seed_same_documents_other_seed_differs():
    a, b = generate_documents(120, seed=7), generate_documents(120, seed=7)
    assert a == b
    assert [d["text"] for d in generate_documents(120, seed=8)] != [d["text"] for d in a]


def test_every_kind_present_in_the_planned_mix(docs):
    counts = collections.Counter(d["kind"] for d in docs)
    assert set(counts) == set(KINDS)
    assert all(counts[k] >= 3 for k in KINDS), counts
    langs = collections.Counter((d["kind"], d["lang"]) for d in docs)
    assert abs(langs[("clean", "zh")] / len(docs) - 0.55) < 0.02
    assert abs(langs[("clean", "en")] / len(docs) - 0.20) < 0.02
    assert len({d["id"] for d in docs}) == len(docs)
    assert all(d["url"].startswith("http://demo.jinglian.local/" + d["lang"] + "/") for d in docs)
    assert all(d["source"].split("-")[0] == d["lang"] for d in docs)


def test_clean_documents_look_like_prose(docs):
    for d in docs:
        if d["kind"] != "clean":
            continue
        if d["lang"] == "zh":
            assert 300 <= len(d["text"]) <= 3000
            assert all(p in d["text"] for p in "。，")
            assert d["text"].count("\n") >= 4  # header, title, paragraphs, footer
        else:
            assert 150 <= len(d["text"].split()) <= 1500
    zh_news = [d["text"].split("\n") for d in docs if d["kind"] == "clean" and d["source"] == "zh-news"]
    assert all(lines[0].startswith("演示新闻网 > ") and lines[-1].endswith("不代表本站观点。") for lines in zh_news)
    assert any("；" in d["text"] or "“" in d["text"] for d in docs if d["lang"] == "zh" and d["kind"] == "clean")


def test_distinct_clean_documents_are_not_near_duplicates(docs):
    clean = [shingles(d["text"]) for d in docs if d["kind"] == "clean"]
    worst = 0.0
    for i, a in enumerate(clean):
        for b in clean[i + 1 :]:
            inter = len(a & b)
            worst = max(worst, inter / (len(a) + len(b) - inter))
    assert worst < 0.3


def test_duplicates_point_back_to_an_earlier_clean_document(docs):
    position = {d["id"]: i for i, d in enumerate(docs)}
    by_id = {d["id"]: d for d in docs}
    variants = collections.Counter()
    for i, d in enumerate(docs):
        if d["kind"] not in ("exact_duplicate", "near_duplicate"):
            assert d["origin"] is None
            continue
        origin = by_id[d["origin"]]
        assert origin["kind"] == "clean" and position[origin["id"]] < i and origin["lang"] == d["lang"]
        if d["kind"] == "exact_duplicate":
            assert normalize(d["text"]) == normalize(origin["text"])
            variants["identical" if d["text"] == origin["text"] else "changed"] += 1
        else:
            assert d["text"] != origin["text"]
            assert jaccard(d["text"], origin["text"]) >= 0.8
    assert variants["identical"] and variants["changed"]


def test_defects_carry_their_markers(docs):
    def of(kind):
        return [d for d in docs if d["kind"] == kind]

    assert all(re.search(r"【|###|>>>|→→→", d["text"]) for d in of("spam"))
    assert any(re.search(r"(展开|更多|阅读全文)$", d["text"], re.M) for d in of("boilerplate"))
    assert all(len(d["text"]) < 30 for d in of("short"))
    for d in of("keyword_stuffing"):
        top, n = collections.Counter(re.split(r"[，、| ]+", d["text"])).most_common(1)[0]
        assert n >= 5, top
    for d in of("gibberish"):  # random characters: almost no 5-gram repeats, unlike prose
        s = normalize(d["text"])
        assert len(shingles(d["text"])) > 0.95 * (len(s) - 4)


def test_pii_documents_hold_valid_identifiers_and_decoys(docs):
    pii_docs = [d for d in docs if d["kind"] == "pii"]
    assert pii_docs
    for d in pii_docs:
        planted = d["pii"]
        for values in planted.values():
            assert all(v in d["text"] for v in values)
        assert all(valid_resident_id(v) for v in planted["id_card"])
        assert all(luhn_valid(v) and len(v) in (16, 19) for v in planted["bank_card"])
        assert all(re.fullmatch(r"1[3-9]\d{9}", v) for v in planted["phone"])
        assert all(re.fullmatch(r"[\w.]+@[\w.]+\.(com|org|net|cn)", v) for v in planted["email"])
        assert all(all(0 <= int(x) <= 255 for x in v.split(".")) for v in planted["ipv4"])
        digits_only = [v for v in planted["decoy"] if v.isdigit()]
        assert digits_only and not any(luhn_valid(v) for v in digits_only)
        assert not any(re.fullmatch(r"1[3-9]\d{9}|\d{17}[\dX]", v) for v in planted["decoy"])
    assert all(d["pii"] is None for d in docs if d["kind"] != "pii")


def test_checksums_reject_corrupted_numbers():
    assert valid_resident_id("11010519491231002X")
    assert not valid_resident_id("110105194912310021")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_html_page_wraps_the_article_with_boilerplate(docs):
    import trafilatura

    doc = next(d for d in docs if d["kind"] == "clean" and d["lang"] == "zh")
    page = render_html(doc)
    body = page[page.index("<article>") : page.index("</article>")]
    paragraphs = [line for line in doc["text"].split("\n")[2:-1]]
    assert all(f"<p>{p}</p>" in body for p in paragraphs)
    for marker in ("<nav>", '<aside class="sidebar">', "<footer>", "版权所有", '<meta charset="utf-8">', f"<title>{doc['title']}"):
        assert marker in page
    extracted = trafilatura.extract(page)
    assert paragraphs[0][:40] in extracted and "热门文章" not in extracted
    en = next(d for d in docs if d["kind"] == "clean" and d["lang"] == "en")
    assert render_html({**en, "text": "a < b & c"}).count("a &lt; b &amp; c") == 1


def test_some_chinese_pages_are_gbk_and_round_trip(docs):
    charsets = collections.Counter()
    for d in docs:
        data, charset = encode_page(d)
        charsets[(d["lang"], charset)] += 1
        page = data.decode(charset)  # strict: the bytes really are in the declared charset
        assert f'charset="{charset}"' in page
        article = page[page.index("<article>") : page.index("</article>")]
        paragraphs = [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", article)]
        assert paragraphs == [line for line in d["text"].split("\n") if line.strip()]
    assert charsets[("zh", "gbk")] >= 10 and charsets[("zh", "utf-8")] > charsets[("zh", "gbk")]
    assert charsets[("en", "gbk")] == 0


def test_demo_inputs_are_spread_over_jsonl_files(tmp_path):
    paths = generate_demo_inputs(str(tmp_path / "in"), n=90, seed=2, files=4)
    assert [p.rsplit("/", 1)[1] for p in paths] == [f"demo-{i:05d}.jsonl" for i in range(4)]
    rows = [json.loads(line) for p in paths for line in open(p, encoding="utf-8")]
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in generate_documents(90, seed=2))
    assert all({"id", "text", "url", "source", "lang", "kind"} <= set(r) for r in rows)
    assert all(len(open(p, encoding="utf-8").readlines()) in (22, 23) for p in paths)
    planted = {d["id"]: d["pii"] for d in generate_documents(90, seed=2) if d["pii"]}
    assert planted
    for r in rows:  # planted values stay out of the files' metadata; counts remain for reporting
        if r["id"] in planted:
            assert r["pii"] == {k: len(v) for k, v in planted[r["id"]].items()}
            assert planted[r["id"]]["email"][0] in r["text"] and planted[r["id"]]["email"][0] not in json.dumps(r["pii"])


def test_quality_training_sets_are_separate_from_the_demo(docs):
    pos, neg = quality_training_sets(60, seed=1)
    assert len(pos) == len(neg) == 60
    assert (pos, neg) == quality_training_sets(60, seed=1)
    demo_texts = {d["text"] for d in docs}
    assert not (set(pos) | set(neg)) & demo_texts
    assert all(len(t) >= 250 for t in pos)
    assert not any("演示新闻网" in t or "Demo Daily" in t or "Demo Notebook" in t for t in pos)
    assert sum(bool(re.search(r"【|###", t)) for t in neg) >= 10
