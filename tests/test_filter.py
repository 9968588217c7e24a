"""Filter rules: each rule with a Chinese and an English document that must pass and one that must fail."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from jinglian.core import documents as D
from jinglian.pipeline.apply import StageCounts, apply_stage, take_statistics
from jinglian.stages.filter import RULESETS, FilterParams, FilterStage
from jinglian.stages.filter import c4, chinese, fineweb, gopher_quality as gq, gopher_repetition as gr
from jinglian.stages.filter.text_stats import TextStats

ZH_CLEAN = """长江是中国第一长河，发源于青藏高原的唐古拉山脉，自西向东流经十一个省级行政区，最后在上海注入东海。
它的干流全长约六千三百公里，流域面积达到一百八十万平方公里，养育了沿岸数亿人口。
在漫长的历史中，长江流域孕育了灿烂的文化。考古学家在这里发现了大量新石器时代的遗址，证明早在七千年前就有人类在此种植水稻。
古代的诗人也常常以长江为题材创作作品，李白和杜甫都留下了许多脍炙人口的名句，这些诗篇至今仍被广泛传诵。
今天，长江不仅是重要的交通要道，也是国家经济发展的关键地带。三峡工程建成以后，航运条件得到明显改善，同时为华中和华东地区提供了清洁的电力。
不过，人们也逐渐意识到保护生态环境的必要性。近年来实施的十年禁渔计划，正是为了让江豚和其他珍稀鱼类恢复种群数量。"""

EN_CLEAN = """The river rises in the mountains of the north and flows for more than six hundred miles before it reaches the sea.
For centuries it has been the main road of the region, carrying grain, timber and travellers between the market towns.
Most of the old mills that stood along its banks have disappeared, but a few of them have been restored by local volunteers.
Visitors who walk the towpath in spring can watch herons fishing in the shallows and hear the bells of the village churches.
The water is cleaner today than it was fifty years ago, and salmon have returned to several of the upper tributaries.
Scientists from the university monitor the river every month and publish their measurements so that anyone can follow the changes."""


def _zh_lines(lines):
    return "\n".join(lines)


def _random_han(n, seed=0, alphabet="钢铁锅碗瓢盆桌椅板凳窗帘灯泡螺丝钉锤子锯斧头剪刀尺规墨砚笔纸箱柜锁钥匙梳镜伞扇鞋袜帽"):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(rng.choice(alphabet))
        if i % 17 == 16:
            out.append("，" if i % 3 else "。")
    return "".join(out) + "。"


# (rule function, thresholds class, failing document); the clean document of the same script must pass.
CHINESE_FAILS = [
    (chinese.min_chars, "短短一句话，不到一百个字。"),
    (chinese.han_ratio, "int main(void) { printf(\"hello world\"); return 0; } // 程序入口 " * 8),
    (chinese.punct_ratio, "".join(c for c in ZH_CLEAN if c not in "，。、")),
    (chinese.digit_ratio, "电话号码列表：" + "，".join(str(13800000000 + i * 7919) for i in range(30)) + "。" + ZH_CLEAN[:100]),
    (chinese.terminal_lines, _zh_lines(["建筑工程施工技术强制措施", "给你的安装造价技巧", "恒大集团工程质量监察细则分享",
                                        "家中装修排线的六个误区", "说说关于静脉留置针的那些事", "每日一练。"])),
    (chinese.short_lines, _zh_lines(["首页。", "新闻。", "体育。", "财经。", "娱乐。", "科技。",
                                     "这是一个网站导航栏下面的正文内容，比导航长很多。"])),
    (chinese.bracket_lines, _zh_lines(["【干货】二百个建筑工程施工技术强制措施。", "【分享】燃气入户安检的依据。",
                                       "【推荐】装修排线的六个误区。", "【必看】造价实操技能。", "今天的内容就到这里。"])),
    (chinese.read_more_lines, _zh_lines(["市政府召开常务会议研究部署下半年经济工作……阅读全文",
                                         "我市举办第十届文化旅游节开幕式……阅读全文", ZH_CLEAN])),
    (chinese.numeric_lines, _zh_lines(ZH_CLEAN.split("\n") + ["责任编辑：王明", "29 ]", "29 ]"])),
    (chinese.hash_ratio, "#话题#" * 40 + "今天天气很好。"),
    (chinese.ellipsis_lines, _zh_lines(["市政府召开常务会议，研究部署下半年的经济工作...", "我市举办第十届文化旅游节，吸引游客…",
                                        "高速公路春运期间免费通行的通知，请广大市民...", "今天的新闻就到这里。",
                                        "全市中小学将于下周一正式开学，家长需提前..."])),
    (chinese.unique_chars, "澳门银河官网澳门银河平台，" * 100),
    (chinese.stop_words, _random_han(300)),
    (chinese.stopword_ratio, _random_han(300) + "的是了在和" ),
    (chinese.bad_words, "威尼斯人现金网开户送彩金，百家乐真人视讯在线玩。" + ZH_CLEAN[:150]),
    (chinese.pinyin_glosses, "第(di)二十(shi)一届(jie)烟台市中小学机器人竞赛(sai)在烟台二中东(dong)校区体(ti)育场(chang)举行。"
     + ZH_CLEAN[:100]),
    (gr.dup_line_frac, _zh_lines(["点击这里领取优惠券。"] * 6 + ZH_CLEAN.split("\n"))),
    (gr.dup_para_frac, "\n\n".join(["欢迎光临本店，全场商品八折优惠。"] * 4 + [ZH_CLEAN])),
    (gr.dup_line_char_frac, _zh_lines(ZH_CLEAN.split("\n")[:2] * 2 + ZH_CLEAN.split("\n"))),
    (gr.dup_para_char_frac, "\n\n".join([ZH_CLEAN[:200]] * 2 + [ZH_CLEAN])),
    (gr.top_ngrams, "哈哈" * 80 + ZH_CLEAN[:200]),
    (gr.dup_ngrams, ZH_CLEAN.replace("\n", "") + ZH_CLEAN.replace("\n", "")[:420]),
]

ENGLISH_FAILS = [
    (gq, gq.word_count_min, "Too short to be a document at all, really."),
    (gq, gq.word_count_max, "word " * 100_001),
    (gq, gq.avg_word_length, "a b c d e f g h i j k l m n o p q r s t u v w x y z the and of to " * 4),
    (gq, gq.hash_ratio, "#tag " * 20 + EN_CLEAN),
    (gq, gq.ellipsis_ratio, "and then... " * 40 + EN_CLEAN),
    (gq, gq.bullet_lines, "\n".join(f"• item number {i} of the list with the and of" for i in range(20))),
    (gq, gq.ellipsis_lines, "\n".join(f"Read the full story about the match number {i} and of ..." for i in range(10))),
    (gq, gq.alpha_words, "12 34 56 78 90 " * 30 + " the and"),
    (gq, gq.stop_words, "Quick brown foxes jump over lazy dogs near rivers. " * 10),
    (gr, gr.dup_line_frac, "\n".join(["Click here to subscribe."] * 5 + EN_CLEAN.split("\n"))),
    (gr, gr.dup_para_frac, "\n\n".join(["Buy now and save."] * 4 + [EN_CLEAN])),
    (gr, gr.dup_line_char_frac, "\n".join(EN_CLEAN.split("\n")[:3] * 2 + EN_CLEAN.split("\n"))),
    (gr, gr.dup_para_char_frac, "\n\n".join([EN_CLEAN[:400]] * 2 + [EN_CLEAN])),
    (gr, gr.top_ngrams, "best price " * 60 + EN_CLEAN),
    (gr, gr.dup_ngrams, EN_CLEAN + " " + EN_CLEAN[:300]),
    (c4, c4.lorem_ipsum, "Lorem ipsum dolor sit amet. " + EN_CLEAN),
    (c4, c4.curly_bracket, "function f() { return 1; }\n" + EN_CLEAN),
    (c4, c4.bad_words, "Free porn videos every day.\n" + EN_CLEAN),
    (c4, c4.min_sentences, "\n".join(["Home", "About us", "Contact", "This page uses cookies. We use cookies."])),
    (fineweb, fineweb.line_punct, "\n".join(f"Menu entry number {i} for the shop" for i in range(20))),
    (fineweb, fineweb.short_lines, "\n".join(["Home", "News", "Sport", "Weather"] * 4 + [EN_CLEAN])),
    (fineweb, fineweb.dup_line_chars, "\n".join(EN_CLEAN.split("\n")[:1] * 2 + EN_CLEAN.split("\n"))),
    (fineweb, fineweb.newline_ratio, "\n".join(f"Item {i}." for i in range(50))),
]


@pytest.mark.parametrize("rule,doc", CHINESE_FAILS, ids=[r.__name__ for r, _ in CHINESE_FAILS])
def test_chinese_rule_rejects_dirty_and_keeps_clean(rule, doc):
    # The short-line rule is off by default (FineWeb-2 cmn_Hani); a job turns it on with a threshold.
    th = chinese.Thresholds(max_short_line_frac=0.5) if rule is chinese.short_lines else chinese.Thresholds()
    bad = rule(TextStats(doc, is_cjk=True), th)
    assert not bad.keep, bad
    good = rule(TextStats(ZH_CLEAN), th)
    assert good.keep, good
    assert bad.rule == good.rule or rule in (gr.top_ngrams, gr.dup_ngrams)


@pytest.mark.parametrize("module,rule,doc", ENGLISH_FAILS,
                         ids=[f"{m.RULESET.name}.{r.__name__}" for m, r, _ in ENGLISH_FAILS])
def test_english_rule_rejects_dirty_and_keeps_clean(module, rule, doc):
    th = module.Thresholds()
    assert not rule(TextStats(doc), th).keep
    assert rule(TextStats(EN_CLEAN), th).keep


def test_chinese_ellipsis_ends_sentences_and_is_not_a_truncation():
    story = _zh_lines(["他说的话让人想起很久以前的事情……", "大家都沉默了，没有人再开口……", "窗外的雨一直下个不停……",
                       "她终于转身离开了。", "故事到这里还没有结束……"])
    assert chinese.ellipsis_lines(TextStats(story), chinese.Thresholds()).keep


def test_code_blocks_are_not_judged_as_prose():
    code = "\n".join(f"    x{i} = [v * {i} for v in range({i})]  # {i}" for i in range(40))
    tutorial = ZH_CLEAN + "\n```python\n" + code + "\n```\n" + ZH_CLEAN[:80]
    assert FilterStage().judge(tutorial) is None
    assert FilterStage().judge(ZH_CLEAN + "\n" + code) is not None  # the same code outside a fence is judged
    unclosed = TextStats("正文。\n```\ncode")
    assert "code" in unclosed.text


def test_markdown_tables_and_html_comments_are_not_judged_as_prose():
    table = ["| 条文 | 修正 |", "|-----|-----|"] + [f"| 第{i}条之一 | 《刑法修正案（{i}）》第{i}条 |" for i in range(1, 9)]
    law = _zh_lines(["# 某市道路管理条例", "<!-- INFO END -->", *ZH_CLEAN.split("\n"), *table, "<!-- TABLE END -->"])
    stats = TextStats(law)
    assert "|" not in stats.text and "<!--" not in stats.text
    assert chinese.terminal_lines(stats, chinese.Thresholds()).keep
    assert FilterStage().judge(law) is None
    assert chinese.terminal_lines(stats, chinese.Thresholds()).value == 1.0
    # the same rows without the table's pipes are lines of prose that do not end sentences
    bare = law.replace("|", " ")
    assert chinese.terminal_lines(TextStats(bare), chinese.Thresholds()).value < 0.5


def test_numbers_in_code_blocks_and_formulas_are_not_page_furniture():
    th = chinese.Thresholds()
    code = _zh_lines(ZH_CLEAN.split("\n") + ["```", "[0.229, 0.224, 0.225]", "(2, 1, 1)", "```"])
    formula = _zh_lines(ZH_CLEAN.split("\n") + ["=& 0.011485.", "$64+128+32+32=256$,"])
    one_date = _zh_lines(["2021-08-24 10:30"] + ZH_CLEAN.split("\n"))
    for doc in (code, formula, one_date):
        assert chinese.numeric_lines(TextStats(doc), th).keep
    listing = _zh_lines(ZH_CLEAN.split("\n") + ["29 14:17", "21 20:15", "16 ]", "16"])
    verdict = chinese.numeric_lines(TextStats(listing), th)
    assert not verdict.keep and verdict.value == 3  # "16" alone numbers a list item; the others are furniture


def test_title_line_is_not_counted_by_terminal_punctuation_rule():
    page = _zh_lines(["长江的故事"] + ZH_CLEAN.split("\n")[:4])
    verdict = chinese.terminal_lines(TextStats(page), chinese.Thresholds())
    assert verdict.keep and verdict.value == 1.0


def test_clean_texts_pass_their_whole_rule_sets():
    for name in ("gopher_quality", "gopher_repetition", "c4", "fineweb"):
        rs = RULESETS[name]
        assert rs.judge(TextStats(EN_CLEAN), rs.configure(None)) is None, name
    rs = RULESETS["chinese"]
    assert rs.judge(TextStats(ZH_CLEAN), rs.configure(None)) is None


LAW = """第一条 为了规范本市的物业管理活动，维护业主和物业服务企业的合法权益，根据有关法律、行政法规的规定，结合本市实际，制定本条例。
第二条 本条例适用于本市行政区域内的物业管理及其监督管理活动。本条例所称物业管理，是指业主通过选聘物业服务企业，由业主和物业服务企业按照物业服务合同约定，对房屋及配套的设施设备和相关场地进行维修、养护、管理的活动。
第三条 市住房城乡建设主管部门负责全市物业管理活动的监督管理工作。区住房城乡建设主管部门负责本行政区域内物业管理活动的监督管理工作。
第四条 业主大会应当代表和维护全体业主在物业管理活动中的合法权益，依法履行职责，不得作出与物业管理无关的决定。
第五条 物业服务企业应当按照物业服务合同的约定，提供相应的服务；未能履行合同约定，导致业主人身、财产安全受到损害的，应当依法承担相应的法律责任。
第六条 违反本条例规定的，由有关部门责令限期改正，给予警告；逾期不改正的，依照有关法律、法规的规定处理。
第七条 本条例自公布之日起施行。"""


def test_english_thresholds_would_reject_clean_chinese_but_routing_keeps_it():
    """Why routing matters: Gopher's word-tuned n-gram limits flag ordinary legal Chinese on characters."""
    stage = FilterStage()
    assert stage.judge(ZH_CLEAN) is None
    assert stage.judge(LAW) is None
    assert gr.RULESET.judge(TextStats(LAW), gr.Thresholds()) is not None


def _table(texts, **cols):
    return D.with_verdict_columns(pa.table({D.TEXT: texts, **cols}))


def test_stage_writes_reason_and_value_and_keeps_order():
    table = _table([ZH_CLEAN, "短句。", EN_CLEAN, "Lorem ipsum dolor sit amet. " + EN_CLEAN])
    counts = StageCounts()
    out = apply_stage(FilterStage(), table, counts)
    by_text = {r[D.TEXT]: r for r in out.to_pylist()}
    assert by_text[ZH_CLEAN][D.REASON] is None and by_text[EN_CLEAN][D.REASON] is None
    assert by_text["短句。"][D.REASON] == "filter:chinese.min_chars"
    assert by_text["短句。"][D.REASON_VALUE] == 3.0
    assert by_text["Lorem ipsum dolor sit amet. " + EN_CLEAN][D.REASON] == "filter:c4.lorem_ipsum"
    assert counts.rejected == 2 and counts.docs_out == 2
    assert counts.reasons == {"filter:chinese.min_chars": 1, "filter:c4.lorem_ipsum": 1}


def test_lang_column_routes_and_null_lang_falls_back_to_cjk_ratio():
    stage = FilterStage(FilterParams(rulesets=["chinese"]))
    # English text labelled Chinese is judged by the Chinese rules (and fails the Chinese-character ratio).
    out = stage.process(_table([EN_CLEAN, EN_CLEAN, ZH_CLEAN], lang=["zh", None, None]))
    assert out[D.REASON].to_pylist() == ["filter:chinese.han_ratio", None, None]
    assert take_statistics(stage)["docs_by_script"] == {"cjk": 2, "non_cjk": 1}


def test_apply_to_all_sends_english_sets_to_chinese():
    law = "\n".join(f"第{n}条 本条例所称的管理，是指有关部门依照本条例的规定对相关事项进行的管理活动。" for n in "一二三四五六七八")
    stage = FilterStage(FilterParams(rulesets=["gopher_repetition"], apply_to={"gopher_repetition": "all"}))
    assert stage.judge(law)[0].startswith("filter:gopher_repetition.")
    assert FilterStage(FilterParams(rulesets=["gopher_repetition"])).judge(law) is None


def test_threshold_overrides_apply_and_unknown_names_are_errors():
    short = "这是一段只有五十个字左右的中文，内容完整，标点也正确。它没有任何问题，只是比默认的最短长度要短一些。"
    assert FilterStage().judge(short)[0] == "filter:chinese.min_chars"
    assert FilterStage(FilterParams(thresholds={"chinese": {"min_chars": 20}})).judge(short) is None
    with pytest.raises(ValueError, match="min_chars"):
        FilterStage(FilterParams(thresholds={"chinese": {"min_char": 20}}))
    with pytest.raises(ValueError, match="available"):
        FilterStage(FilterParams(rulesets=["chinese", "nope"]))
    with pytest.raises(ValueError, match="apply_to"):
        FilterStage(FilterParams(apply_to={"chinese": "everything"}))


def test_stats_are_script_aware():
    zh = TextStats("我们今天去公园散步，天气很好。")
    en = TextStats("We went for a walk in the park today.")
    assert zh.is_cjk and not en.is_cjk
    assert len(zh.units) == 13 and len(en.units) == 9  # characters vs words
    assert TextStats("好好好好好好好好好好").top_ngram_char_frac(2) == 1.0
    mixed = TextStats("用 Python 写 code")
    assert mixed.units == ["用", "python", "写", "code"]
