"""extract stage: charset handling for Chinese pages, metadata, verdicts, time limit, and the main text of forums, comment pages, product pages and table-layout pages."""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pytest

from jinglian.core import documents as D
from jinglian.pipeline.apply import take_statistics
from jinglian.stages.extract.charset import decode_html, meta_charset
from jinglian.stages.extract.isolated import CallTimeout, IsolatedCall
from jinglian.stages.extract.stage import ExtractParams, ExtractStage

ZH = [
    "国务院办公厅关于进一步加强城市规划建设管理工作的若干意见，各省、自治区、直辖市人民政府均应认真贯彻执行。",
    "記者從有關部門獲悉，今年第一季度全國鐵路旅客發送量同比增長百分之十二，創下歷史同期新高。",  # Traditional
    "镕、堃、喆、昇等生僻字在很多网页里出现，它们只在GBK或GB18030里有编码，不在GB2312里。",
]


def page(body_paras: list[str], title: str = "新闻标题", meta: str | None = None, traditional: bool = False) -> str:
    head = f'<meta charset="{meta}">' if meta else ""
    paras = "".join(f"<p>{p}</p>" for p in body_paras * 3)
    home, news, rights = ("首頁", "新聞", "版權所有") if traditional else ("首页", "新闻", "版权所有")
    return (
        f"<html><head>{head}<title>{title}</title><meta name='date' content='2024-03-05'></head><body>"
        f"<nav><a href='/'>{home}</a> | <a href='/news'>{news}</a></nav>"
        f"<article><h1>{title}</h1>{paras}</article><footer>{rights} 2024</footer></body></html>"
    )


@pytest.mark.parametrize(
    "text,codec",
    [(ZH[0], "gb2312"), (ZH[2], "gbk"), (ZH[2], "gb18030"), (ZH[1], "big5")],
)
def test_chinese_charsets_from_header_meta_and_detection(text, codec):
    kw = {"title": "鐵路新聞", "traditional": True} if codec == "big5" else {}
    html = page([text], **kw)
    data = html.encode(codec)
    assert decode_html(data, codec)[0] == html  # HTTP header
    with_meta = page([text], meta=codec, **kw)
    assert decode_html(with_meta.encode(codec))[0] == with_meta  # <meta>
    decoded, _, how = decode_html(data)  # nothing declared
    assert decoded == html and how == "detected"
    # a wrong declaration (the server says UTF-8, the page is legacy) is not believed
    assert decode_html(data, "utf-8")[0] == html


def test_gb2312_label_decodes_gbk_only_characters():
    data = page([ZH[2]], meta="gb2312").encode("gbk")  # 镕 and 堃 are not in GB2312
    with pytest.raises(UnicodeDecodeError):
        data.decode("gb2312")
    text, codec, how = decode_html(data)
    assert "镕" in text and "堃" in text and (codec, how) == ("gb18030", "meta")


def test_latin1_header_does_not_override_page_meta():
    html = page([ZH[0]], meta="gbk")
    text, codec, how = decode_html(html.encode("gbk"), "iso-8859-1")
    assert text == html and how == "meta"


def test_meta_charset_forms():
    assert meta_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=GB2312">') == "GB2312"
    assert meta_charset(b"<?xml version='1.0' encoding='big5'?>") == "big5"
    assert meta_charset(b"<p>no declaration</p>") is None


def run_stage(rows: dict, **params):
    stage = ExtractStage(ExtractParams(**params))
    stage.setup()
    n = len(next(iter(rows.values())))
    batch = pa.table({D.ID: [str(i) for i in range(n)], **rows})
    return D.with_verdict_columns(stage.process(batch)), stage


def test_stage_extracts_main_text_and_metadata_with_verdicts():
    gbk = page([ZH[0], ZH[2]]).encode("gbk")
    big5 = page([ZH[1]], title="鐵路新聞", traditional=True).encode("big5")
    out, stage = run_stage(
        {
            D.TEXT: ["", "", "", "", "already text", ""],
            "content": [gbk, big5, b"<html><body><script>var x = 1;</script></body></html>", b"\x89PNG", None, b"x" * 2000],
            "content_type": ["text/html", "text/html", "text/html", "image/png", None, "text/html"],
            D.METADATA: [json.dumps({"url": "http://news.example/a", "charset": "gbk"}), json.dumps({"charset": "big5"}), None, None, None, None],
        },
        max_bytes=1000,
    )
    rows = out.to_pylist()
    assert ZH[0] in rows[0][D.TEXT] and ZH[2] in rows[0][D.TEXT]
    assert "首页" not in rows[0][D.TEXT] and "版权所有" not in rows[0][D.TEXT]  # boilerplate gone
    assert rows[0]["title"] == "新闻标题" and rows[0]["date"] == "2024-03-05"
    assert rows[0]["url"] == "http://news.example/a" and rows[0]["html_charset"] == "gb18030"
    assert ZH[1] in rows[1][D.TEXT] and rows[1]["html_charset"] == "big5hkscs"
    assert [r[D.REASON] for r in rows] == [None, None, "extract:no_text", "extract:content_type", None, "extract:too_large"]
    assert rows[4][D.TEXT] == "already text"
    assert rows[5][D.REASON_VALUE] == 2000
    assert all(r["content"] is None for r in rows)  # raw bytes dropped once extracted
    assert take_statistics(stage)["charset_from"]["http"] == 2


def test_plain_text_content_is_decoded_not_parsed():
    out, _ = run_stage({D.TEXT: [""], "content": ["纯文本内容".encode("gb18030")], "content_type": ["text/plain"], "charset": ["gb18030"]})
    assert out[D.TEXT].to_pylist() == ["纯文本内容"]


def test_isolated_call_times_out_and_recovers():
    call = IsolatedCall("time:sleep")
    start = time.monotonic()
    with pytest.raises(CallTimeout):
        call.call(0.3, 5)
    assert time.monotonic() - start < 3
    assert call.call(2.0, 0) is None  # a fresh child answers the next call
    call.close()


def test_pathological_page_is_rejected_as_timeout_and_the_worker_goes_on():
    # 2,000 short link-bearing blocks: trafilatura needs seconds for this 170 KB page
    blocks = (f"<div class='c{i}'><span>词{i}</span> <a href='/{i}'>链接</a><p>段落内容很多很多。{i}</p></div>" for i in range(2000))
    heavy = ("<html><body>" + "".join(blocks) + "</body></html>").encode()
    good = page([ZH[0]]).encode()
    out, _ = run_stage({D.TEXT: ["", ""], "content": [heavy, good]}, timeout_s=0.3)
    rows = out.to_pylist()
    assert rows[0][D.REASON] == "extract:timeout" and rows[0][D.REASON_VALUE] == 0.3
    assert rows[1][D.REASON] is None and ZH[0] in rows[1][D.TEXT]


# ---- genres: forums, comment sections, product pages, table-layout pages ------------------------------
MENU = ["首页", "新闻中心", "政务公开", "办事服务", "互动交流", "专题专栏", "图片新闻", "视频新闻", "联系我们", "网站地图", "领导信箱", "在线访谈"]
POSTS = [
    ("老王", "请教各位：家里的老式燃气热水器冬天出水忽冷忽热，已经换过一次水阀，还是老样子，是不是该整机换掉了？"),
    ("小李", "我家以前也这样，后来发现是进水压力不够，楼上楼下同时用水的时候就会忽冷忽热，装了一个增压泵以后好多了。"),
    ("阿芳", "先看看是不是水气联动阀里的膜片老化了，这个零件很便宜，师傅上门换一下几十块钱，不一定要整机换。"),
    ("老王", "谢谢两位！今天请师傅来看了，果然是膜片裂了，换完以后温度稳定多了，下次再有问题还来请教大家。"),
]
COMMENTS = [
    "这家店的牛肉面汤头很浓，面是现拉的，很有嚼劲，就是中午排队的人太多，建议错峰去。",
    "去过三次了，每次都点招牌牛肉面加一份小菜，价格实惠，老板人也很热情，会主动问要不要加辣。",
    "味道一般，牛肉片切得太薄，不过环境干净，服务员上菜很快，适合赶时间的上班族。",
    "周末带孩子去吃的，店里专门有儿童餐具，孩子很喜欢他们家的酸梅汤，下次还会再来。",
    "面的分量很足，男生一碗也能吃饱，汤可以免费续，性价比在附近算是很高的了。",
]

def menu_list():
    return "<ul class='nav'>" + "".join(f"<li><a href='/m{i}'>{m}</a></li>" for i, m in enumerate(MENU)) + "</ul>"

def forum_thread():
    posts = "".join(
        f"<div class='post' id='post{i}'><div class='author'><a href='/u/{i}'>{who}</a> 发表于 2024-01-0{i+1}</div>"
        f"<div class='post-body'>{text}</div><div class='post-actions'><a href='#r'>回复</a> <a href='#j'>举报</a></div></div>"
        for i, (who, text) in enumerate(POSTS))
    return ("<html><head><title>热水器忽冷忽热怎么办 - 家电论坛</title></head><body>"
            f"<div id='header'>{menu_list()}</div><div id='thread'><h1>热水器忽冷忽热怎么办</h1>{posts}</div>"
            "<div id='footer'>Copyright 2024 家电论坛 京ICP备12345678号</div></body></html>")

def comment_page():
    items = "".join(f"<li class='comment'><span class='user'><a href='/u{i}'>用户{i}</a></span><p>{c}</p><span class='time'>3天前</span></li>" for i, c in enumerate(COMMENTS))
    return ("<html><head><title>兰州牛肉面（人民路店）的评价</title></head><body>"
            f"<div class='top'>{menu_list()}</div><h1>兰州牛肉面（人民路店）网友点评</h1>"
            f"<div class='comments'><ol>{items}</ol></div><div class='footer'>关于我们 | 联系我们 | 隐私政策</div></body></html>")

PRODUCT = ["这款不锈钢保温杯采用双层真空结构，装入开水后十二小时仍能保持六十度以上，适合上班和出行携带。",
           "杯盖内置硅胶密封圈，倒置摇晃不漏水；杯口宽大，可以直接放入冰块，清洗也很方便。"]
SPECS = [("容量", "500毫升"), ("材质", "304不锈钢"), ("重量", "约300克"), ("颜色", "雾霾蓝、象牙白、曜石黑")]

def product_page():
    specs = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in SPECS)
    desc = "".join(f"<p>{p}</p>" for p in PRODUCT)
    return ("<html><head><title>真空保温杯 500ml - 某某商城</title></head><body>"
            f"<div class='header'>{menu_list()}<a href='/cart'>购物车</a></div>"
            "<div class='product'><h1>真空保温杯 500ml</h1><div class='price'>￥89.00</div>"
            "<button>加入购物车</button><button>立即购买</button>"
            f"<div class='description'><h2>商品介绍</h2>{desc}</div><table class='specs'>{specs}</table></div>"
            "<div class='footer'>客服热线 400-000-0000 | 营业执照</div></body></html>")

ARTICLE = ["本报讯 今年以来，市卫生局组织开展了冬春季传染病防控专项行动，重点加强了学校、托幼机构和养老院等人员密集场所的监测工作。",
           "据介绍，全市共设立流感监测哨点医院十二家，每周汇总分析门诊病例数据，一旦发现聚集性疫情，将在二十四小时内完成现场调查和处置。",
           "卫生部门提醒市民，冬季是呼吸道传染病高发季节，应注意室内通风，勤洗手，出现发热咳嗽等症状时及时就医，避免带病上班上学。"]

def table_layout_page():
    navrows = "".join(f"<tr><td><a href='/c{i}'>{MENU[i]}</a></td><td><a href='/c{i+1}'>{MENU[i+1]}</a></td></tr>" for i in range(0, len(MENU), 2))
    body = "".join(f"<p>{p}</p>" for p in ARTICLE)
    return ("<html><head><title>市卫生局开展传染病防控行动</title></head><body>"
            "<table width='980'><tr><td width='180' valign='top'>"
            f"<table class='nav'>{navrows}</table></td>"
            f"<td valign='top'><table><tr><td><b>市卫生局开展传染病防控行动</b></td></tr><tr><td>{body}</td></tr></table></td></tr>"
            "<tr><td colspan='2'>版权所有 市卫生局</td></tr></table></body></html>")



def extract_text(html: str, **params) -> tuple[str, dict]:
    out, stage = run_stage({D.TEXT: [""], "content": [html.encode("utf-8")], "charset": ["utf-8"]}, **params)
    return out[D.TEXT].to_pylist()[0], take_statistics(stage)


def test_forum_thread_keeps_every_post_and_no_menu():
    text, _ = extract_text(forum_thread())
    assert all(post in text for _, post in POSTS)
    assert not any(label in text for label in MENU)


def test_comment_section_page_keeps_the_comments_once():
    text, summary = extract_text(comment_page())
    assert all(text.count(c) == 1 for c in COMMENTS)  # trafilatura's defaults alone emit each comment twice
    assert "隐私政策" not in text and "网站地图" not in text
    assert summary["text_from"] == {"default+comments": 1}  # precision alone kept only the heading
    precise, _ = extract_text(comment_page(), decide=False)
    assert not any(c in precise for c in COMMENTS)


def test_product_page_keeps_description_and_specifications():
    text, _ = extract_text(product_page())
    assert all(p in text for p in PRODUCT)
    assert all(k in text and v in text for k, v in SPECS)
    assert "购物车" not in text and "客服热线" not in text


def test_table_layout_page_drops_the_navigation_table():
    text, _ = extract_text(table_layout_page())
    assert all(p in text for p in ARTICLE)
    assert not any(label in text for label in MENU)
    before, _ = extract_text(table_layout_page(), drop_navigation_tables=False)
    assert all(label in before for label in MENU)  # trafilatura keeps it with include_tables


def test_navigation_table_rule_keeps_tables_of_headlines_and_of_data():
    from lxml import html as lxml_html

    from jinglian.stages.extract.navigation import drop_navigation_tables

    headlines = [f"<tr><td><a href='/n{i}'>{p[:24]}</a></td></tr>" for i, p in enumerate(ARTICLE + COMMENTS)]
    data = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in SPECS)
    menu = "".join(f"<tr><td><a href='/m{i}'>{m}</a></td></tr>" for i, m in enumerate(MENU))
    tree = lxml_html.fromstring(f"<html><body><table id='h'>{''.join(headlines)}</table><table id='d'>{data}</table><table id='m'>{menu}</table></body></html>")
    assert drop_navigation_tables(tree) == 1
    assert [t.get("id") for t in tree.iter("table")] == ["h", "d"]


def test_per_page_verdict_rules():
    from jinglian.stages.extract.decide import DEFAULT, PRECISION, SHORT, drop_repeated_lines, pick_short, verdict

    posts = "\n".join(p for _, p in POSTS)
    assert verdict(POSTS[0][1], posts) == PRECISION  # part of the estimate, over a quarter of it
    assert verdict(POSTS[0][1][:20], posts * 2) == SHORT  # a fragment of what the page holds
    assert verdict("", posts) == SHORT
    assert verdict(posts + "\n" + "\n".join(MENU * 3), posts) == DEFAULT  # much text the estimate leaves out
    assert verdict(posts, "") == DEFAULT and verdict("", "") == SHORT  # no second opinion
    article = "\n".join(ARTICLE)
    assert pick_short("短", "短", posts) == (posts, "resiliparse")  # the defaults are short too: the estimate
    assert pick_short("标题", posts, posts) == (posts, "default+comments")  # the posts are in comment containers
    assert pick_short(article, article + "\n" + posts * 4, article + posts * 4) == (article, "default")  # reader comments
    assert drop_repeated_lines("第一行内容足够长了吧\n第一行内容足够长了吧\n短\n短") == "第一行内容足够长了吧\n短\n短"


def test_article_with_reader_comments_keeps_the_article_only():
    comments = "".join(f"<div class='comment'><a href='/u{i}'>网友{i}</a><p>{c}</p></div>" for i, c in enumerate(COMMENTS))
    html = (
        "<html><head><title>市卫生局开展传染病防控行动</title></head><body>"
        f"<div class='nav'>{menu_list()}</div><article><h1>市卫生局开展传染病防控行动</h1>"
        + "".join(f"<p>{p}</p>" for p in ARTICLE)
        + f"</article><div id='comments'><h3>网友评论</h3>{comments}</div></body></html>"
    )
    text, _ = extract_text(html)
    assert all(p in text for p in ARTICLE)
    assert not any(c in text for c in COMMENTS)
    assert "网站地图" not in text


def test_page_in_a_wrapper_element_is_parsed_not_dropped():
    # the markup trafilatura's loader refuses: no "html" in the first 50 characters, one top element
    body = "".join(f"<p>{p}</p>" for p in ARTICLE)
    html = f"<text id='http://example.cn/a/1' title='市卫生局开展传染病防控行动'><div class='content'><div>{body}</div></div></text>"
    from trafilatura.utils import load_html

    assert load_html(html) is None
    text, summary = extract_text(html)
    assert all(p in text for p in ARTICLE)


@pytest.mark.parametrize("isolate", [True, False])
def test_params_reach_the_extraction_in_and_out_of_the_child_process(isolate):
    # the frozen params travel to the child as they are: a knob set in the job changes what the child does
    text, _ = extract_text(product_page(), isolate=isolate, include_tables=False, decide=False)
    assert all(p in text for p in PRODUCT)
    assert not any(v in text for _, v in SPECS)
    with pytest.raises(AttributeError):
        ExtractParams().decide = False  # frozen: what setup() handed the child cannot drift from self.params


def test_trafilatura_leaves_the_tree_it_is_given_unchanged():
    # extract_page hands one parsed tree to every pass (and to the title and date look-ups) without a copy
    import trafilatura
    from htmldate import find_date
    from lxml import etree
    from trafilatura.metadata import extract_title

    from jinglian.stages.extract.stage import parse_page

    for html in (forum_thread(), comment_page(), product_page(), table_layout_page()):
        _, tree = parse_page(html)
        before = etree.tostring(tree, encoding="unicode")
        extract_title(tree)
        find_date(tree, original_date=True, extensive_search=False)
        trafilatura.bare_extraction(tree, favor_precision=True, include_comments=False)
        trafilatura.extract(tree, include_comments=False)
        trafilatura.extract(tree, include_comments=True)
        assert etree.tostring(tree, encoding="unicode") == before


def test_trafilatura_speedups_change_no_extraction():
    from jinglian.stages.extract import trafilatura_speedups as speedups
    from jinglian.stages.extract.stage import extract_page

    pages = (forum_thread(), comment_page(), product_page(), table_layout_page())
    shipped = [extract_page(p, None, ExtractParams(isolate=False, speedups=False)) for p in pages]
    assert not speedups.installed()
    faster = [extract_page(p, None, ExtractParams(isolate=False)) for p in pages]
    assert speedups.installed()
    assert faster == shipped


def test_trafilatura_speedups_guard_only_what_cannot_match_an_absent_attribute():
    from jinglian.stages.extract.trafilatura_speedups import guarded

    assert guarded("re:test(@id, 'nav|menu')") == "((@id) and re:test(@id, 'nav|menu'))"
    assert guarded("re:test(@id|@class, '^shar', 'i')") == "((@id|@class) and re:test(@id|@class, '^shar', 'i'))"
    assert guarded("re:test(@class, 'x?') or @role") == "re:test(@class, 'x?') or @role"  # '' matches: unchanged


def test_trafilatura_speedups_swap_in_place_and_back():
    import trafilatura.xpaths as X
    from lxml import etree
    from trafilatura.utils import load_html

    from jinglian.stages.extract import trafilatura_speedups as speedups
    from jinglian.stages.extract.xpath_selectors import Selector

    markup = ("<html><body><form><input name='q'><textarea></textarea><select><option>1</option></select>"
              "<label>l</label></form><div class='a'>t</div><p>p</p></body></html>")
    speedups.use(False)
    shipped = list(X.OVERALL_DISCARD_XPATH)
    classes = [type(e) for e in load_html(markup).iter()]
    speedups.use(True)
    assert isinstance(X.OVERALL_DISCARD_XPATH[0], Selector)  # compiled (xpath_selectors.py)
    assert "((@class) and re:test(@class" in X.BODY_XPATH[0].path  # outside the compiled shape: guarded XPath
    assert [type(e) for e in load_html(markup).iter()] == classes  # lxml.html's form classes, HtmlElement elsewhere
    speedups.use(False)
    assert X.OVERALL_DISCARD_XPATH == shipped
    assert all(isinstance(e, etree.XPath) for e in X.OVERALL_DISCARD_XPATH + X.BODY_XPATH)  # as shipped
