"""clean_lines: page furniture is cut, clean prose of every genre is left alone, counts reach stats.json."""

from __future__ import annotations

import pyarrow as pa

from jinglian.core import documents as D
from jinglian.pipeline.apply import StageCounts, apply_stage, take_statistics
from jinglian.stages.clean_lines import CleanLinesParams, CleanLinesStage, clean_text
from tests.test_filter_genres import GENRES

ARTICLE = ["今天上午，市政府召开新闻发布会，介绍了前三季度全市经济运行的总体情况。",
           "据介绍，前三季度全市地区生产总值同比增长百分之六，就业形势保持稳定。"]


def test_furniture_lines_are_removed_and_counted_by_kind():
    page = "\n".join([
        "当前位置：首页 > 新闻中心 > 国内新闻",
        "首页 | 新闻 | 体育 | 财经 | 娱乐",
        ARTICLE[0],
        "分享到：微信 微博 QQ空间",
        ARTICLE[1],
        "上一篇：我市举办文化旅游节",
        "阅读全文>>",
        "版权所有 © 2012 某某网 京ICP备12345678号",
    ])
    result = clean_text(page)
    assert result.text == "\n".join(ARTICLE)
    assert result.lines_removed == 6
    assert result.chars_removed == len(page.replace("\n", "")) - len("".join(ARTICLE))
    assert result.by_kind == {"navigation": 3, "share": 1, "read_more": 1, "copyright": 1}


def test_read_more_link_after_a_teaser_is_cut_from_the_line_only():
    result = clean_text(ARTICLE[0] + "……阅读全文>>\n" + ARTICLE[1])
    assert result.text == ARTICLE[0] + "\n" + ARTICLE[1]
    assert result.lines_removed == 0 and result.chars_removed == len("……阅读全文>>")


def test_data_table_rows_and_prose_about_copyright_are_kept():
    stats_row = "北京 | 1200 | 35 | 2.9%"  # numbers: a data table, not a menu
    prose = ("法院认为，被告未经许可复制原告作品并在网络上传播，侵犯了原告依法享有的著作权，"
             "应当承担停止侵权、赔偿损失的民事责任，判决被告赔偿原告经济损失及合理开支共计五万元，并在其网站首页刊登声明消除影响。")
    text = "\n".join([ARTICLE[0], stats_row, prose])
    assert clean_text(text).text == text


def test_no_line_of_any_clean_genre_is_removed():
    for genre, doc in GENRES.items():
        result = clean_text(doc)
        assert result.lines_removed == 0 and result.text == doc, (genre, result)


def test_local_encoding_damage_is_cut_widespread_damage_is_left_for_the_filter():
    garbled = "Ｕ派芨眨何沂且环?好意?Ｖ?前哪怕被网友骂得再凶?Ｍ?友：别再硬挺"
    article = ARTICLE * 6
    local = "\n".join(article[:6] + [garbled] + article[6:])
    result = clean_text(local)
    assert result.text == "\n".join(article) and result.by_kind == {"encoding_damage": 1}
    widespread = "\n".join([garbled] * 3 + ARTICLE)
    assert clean_text(widespread).text == widespread
    assert clean_text(local, CleanLinesParams(kinds=["navigation"])).text == local


def test_stage_adds_columns_rejects_emptied_docs_and_reports_totals():
    stage = CleanLinesStage()
    table = pa.table({D.ID: ["a", "b", "c"],
                      D.TEXT: ["\n".join(ARTICLE), "首页 | 新闻 | 体育 | 财经\n" + ARTICLE[0], "分享到：微信 微博"]})
    counts = StageCounts()
    out = apply_stage(stage, table, counts).sort_by(D.ID)
    assert out["lines_removed"].to_pylist() == [0, 1, 1]
    assert out[D.TEXT].to_pylist()[:2] == ["\n".join(ARTICLE), ARTICLE[0]]
    assert out[D.REASON].to_pylist() == [None, None, "clean_lines:empty"]
    assert counts.rejected == 1 and counts.docs_out == 2
    summary = take_statistics(stage)
    assert summary["lines_removed"] == 2 and summary["docs_changed"] == 2
    assert summary["lines_by_kind"] == {"navigation": 1, "share": 1}
    assert take_statistics(stage)["lines_removed"] == 0  # reset after each report: the executor sums them


def test_comments_that_mention_sharing_are_not_share_buttons():
    thread = "\n".join([ARTICLE[0], "谢谢分享", "[赞][赞][赞]", "转发微博。", "转发 评论 赞", "分享到：微信 微博"])
    result = clean_text(thread)
    assert result.text == "\n".join([ARTICLE[0], "谢谢分享", "[赞][赞][赞]", "转发微博。"])
    assert result.by_kind == {"share": 2}


def test_layout_tables_are_cut_data_tables_kept_whole():
    layout = ["| 首页 | 新闻中心 | 政务公开 | 办事服务 |", "| 互动交流 | 专题专栏 | 网站地图 | 联系我们 |"]
    data = ["| 鱼类 | 是否切片 | 重量 | 微波时间 |", "|---|---|---|---|", "| 鲈鱼 | 否 | 500克 | 5分钟 |"]
    result = clean_text("\n".join(layout + ARTICLE + data))
    assert result.text == "\n".join(ARTICLE + data)
    assert result.by_kind == {"navigation": 2}


def test_prose_that_starts_like_a_pager_or_asks_about_copyright_is_kept():
    lines = ["上一章我们讲到，主人公离开了家乡，独自来到这座陌生的城市。", "这本书的版权所有人是谁？出版社也说不清楚。", ARTICLE[0]]
    assert clean_text("\n".join(lines)).lines_removed == 0
    assert clean_text("\n".join(["上一篇：我市举办文化旅游节", ARTICLE[0]])).by_kind == {"navigation": 1}


def test_table_layout_page_keeps_its_text_cells_and_loses_its_furniture():
    page = "\n".join([
        "|  |  |  |",
        "|  | 当前位置：首页 > 新闻中心 > 国内新闻 | 双击自动滚屏 |",
        f"|  | {ARTICLE[0]} |",
        f"| {ARTICLE[1]} |  |",
        "| 版权所有 © 2004-2008 某某网 | 京ICP备05012345号 |",
    ])
    result = clean_text(page)
    assert result.text == "\n".join(["| 双击自动滚屏 |", f"|  | {ARTICLE[0]} |", f"| {ARTICLE[1]} |  |"])
    assert result.by_kind == {"navigation": 1, "navigation_cell": 1, "copyright": 1}
    assert result.lines_removed == 2


def test_comment_counters_after_a_sentence_are_cut_and_years_in_prose_are_not():
    novel = "\n".join([ARTICLE[0] + "37", ARTICLE[1] + "12", "他出生于1987"])
    result = clean_text(novel)
    assert result.text == "\n".join([ARTICLE[0], ARTICLE[1], "他出生于1987"])
    assert result.by_kind == {"counter_tail": 2} and result.lines_removed == 0 and result.chars_removed == 4


def test_lines_of_numbers_and_symbols_are_cut_list_numbers_formulas_notes_and_table_cells_stay():
    page = "\n".join(["深入浅出的好文章，这篇放在评论版太可惜了。", "- 2012/01/16 12:13 219.8*****137", "好医生",
                      "- 2012/01/16 11:27 218.1*****8.32", "1.", "x = 3 + 4", "| 2011 | 2012 |", "……”〔１８〕",
                      "29 ]"])
    result = clean_text(page)
    assert result.text.split("\n") == ["深入浅出的好文章，这篇放在评论版太可惜了。", "好医生", "1.", "x = 3 + 4",
                                       "| 2011 | 2012 |", "……”〔１８〕"]
    assert result.by_kind == {"numeric": 3} and result.lines_removed == 3


def test_a_reprint_disclaimer_line_is_cut_a_sentence_of_the_author_about_it_stays():
    disclaimers = ["声明：本网登载此文出于传递更多信息之目的，并不意味着赞同其观点或证实其描述。",
                   "• 凡注明为其他媒体来源的信息，均为转载自其他媒体，转载并不代表本网赞同其观点。如有疑问请与本网联系。",
                   "| 本网转载其他媒体稿件是为传播更多的信息，此类稿件不代表本网观点。 |  |",
                   "风险提示：以上内容仅供参考，不构成投资建议。投资者据此操作，风险自担。"]
    result = clean_text("\n".join([ARTICLE[0], *disclaimers, ARTICLE[1]]))
    assert result.text == "\n".join(ARTICLE)
    assert result.by_kind == {"disclaimer": 4}
    # the author's own words about it later in a paragraph, a law's duty to vouch for documents, a question
    kept = ["今年以来，多家门户网站调整了转载规则。记者注意到，不少网站在转载文章的末尾加上了一句说明：转载并不代表本网赞同其观点。",
            "申请人应当向市场监督管理部门提交法律、行政法规规定的文件并对其真实性负责。",
            "为什么转载的文章要写上不代表本网观点？"]
    text = "\n".join([ARTICLE[0], *kept])
    assert clean_text(text).text == text


def test_related_article_links_with_their_dates_are_cut_dated_text_and_ingredients_stay():
    links = ["- 小学规定学生当志愿者可免做寒假作业 01/17 02:00", "- 01/12 01:30和你一起过年 相机热销价3999元",
             "- 第六届年会经济学院长联席会召开(2006-12-16)", "• 市区新增三条公交线路 2012-01-17"]
    result = clean_text("\n".join([ARTICLE[0], ARTICLE[1], "相关新闻", *links]))
    assert result.text == "\n".join([*ARTICLE, "相关新闻"]) and result.by_kind == {"navigation": 4}
    kept = ["- 面粉 2-3 勺", "- 鸡蛋 1-2 个", "- 2.5 kg 大米",  # quantities, not dates
            "- 2012-01-17 凌晨，震中附近的居民已全部撤离。",  # a timeline entry is a sentence
            "- 12/25 平安夜的晚会。", "- 2011-03-11 日本东北部发生九级地震"]  # a timeline's date has no time
    text = "\n".join([ARTICLE[0], *kept])
    assert clean_text(text).text == text
