"""The default filter on clean Chinese of several genres (all kept) and on garbled text (rejected)."""

from __future__ import annotations

import pytest

from jinglian.stages.filter import FilterStage, chinese, gopher_quality
from jinglian.stages.filter.encoding import damage_sites, damaged_lines
from jinglian.stages.filter.text_stats import TextStats

RECIPE = """红烧肉
用料
五花肉 500克
冰糖 30克
生抽 2勺
老抽 1勺
料酒 2勺
姜 3片
八角 2个
做法
1.
五花肉切成两厘米见方的块，冷水下锅，加入姜片和料酒焯水，撇去浮沫后捞出沥干。
2.
锅中放少许油，加入冰糖小火炒出糖色，颜色变成枣红色时倒入肉块，快速翻炒让每块肉都裹上糖色。
3.
加入生抽、老抽和八角，倒入没过肉块的开水，大火烧开后转小火炖一个小时。
4.
最后开大火收汁，汤汁浓稠发亮就可以出锅了。
小贴士
炒糖色时火一定要小，糖色炒过头会发苦"""

COMMENT_THREAD = """【今晚的晚霞太美了】下班路上抬头一看，整个天空都被染成了粉紫色，忍不住停下来拍了好多张照片，分享给大家[太开心]
太美了吧[哇]
转发微博。
我们这边也看到了，简直像油画一样
转发微博。
[心][心][心]
好想去你那里看看晚霞啊
哈哈哈哈哈哈
拍得真好，用的什么手机
下次约起一起去江边看日落~
转发微博。
羡慕了，我这边一直在下雨[泪]
每天最治愈的时刻就是看晚霞了
回复@小林同学:是手机拍的，没有加滤镜，原图就是这个颜色
明天还会有吗，我也想下班去看看"""

FICTION = """第三章 雨夜
雨下得更大了，屋檐下的水连成了线。
“你真的要走？”母亲站在门口，声音有些发抖。
“嗯。”
“什么时候回来？”
他没有回答，只是把行李往肩上提了提，转身走进了雨里。
母亲追了两步，又停下了。
“路上小心……”
巷子很长，他一直没有回头。走到巷口的时候，他听见身后传来关门的声音，那声音很轻，却像是落在了他心上。
他在雨里站了很久，直到最后一班公交车的灯光从远处慢慢亮起来。
车上只有司机一个人。他找了个靠窗的位置坐下，看着窗外的街灯一盏一盏往后退去。"""

NEWS = """我市出台新政支持小微企业发展
本报讯（记者 李明）昨日，市政府办公厅印发《关于进一步支持小微企业发展的若干措施》，从融资、税费、用地等方面提出二十条具体措施。
降低融资成本
措施提出，设立总规模十亿元的小微企业纾困基金，对符合条件的企业贷款给予贴息支持，贴息比例最高可达百分之五十。
减轻税费负担
对年应纳税所得额不超过一百万元的小型微利企业，继续执行所得税优惠政策，同时清理规范涉企收费项目。
保障用地需求
各区要安排一定比例的工业用地用于小微企业园区建设，园区标准厂房可按幢、层分割转让。
市工信局有关负责人表示，新政将于下月起施行，预计惠及全市三万多家小微企业。"""

GENRES = {"recipe": RECIPE, "comment thread": COMMENT_THREAD, "dialogue fiction": FICTION,
          "news with subheadings": NEWS}


@pytest.mark.parametrize("genre", list(GENRES))
def test_clean_genre_is_kept_by_the_default_filter(genre):
    text = GENRES[genre]
    assert len(text) >= 200
    assert FilterStage().judge(text, "zh") is None
    assert FilterStage().judge(text) is None  # routed as Chinese by its characters as well


def test_stop_words_are_counted_distinct_as_in_gopher():
    one_word = TextStats("the cat sat on a mat near the door " * 8)
    verdict = gopher_quality.stop_words(one_word, gopher_quality.Thresholds())
    assert not verdict.keep and verdict.value == 1.0  # "the" sixteen times is one stop word
    assert gopher_quality.stop_words(TextStats("the cat and the dog"), gopher_quality.Thresholds()).keep
    zh_one = TextStats("我的书我的笔我的家" * 10, is_cjk=True)
    assert not chinese.stop_words(zh_one, chinese.Thresholds()).keep


def _shifted_gbk(text: str, every: int = 40) -> str:
    """GBK bytes with a stray byte every ``every`` characters, decoded again: the "?", the full-width character
    and the misaligned run of characters that a lost line break leaves (as in the SogouCA news of zh-junk)."""
    out = []
    for i in range(0, len(text), every):
        raw = b"?\xa3" + text[i:i + every].encode("gbk")
        out.append(raw.decode("gbk", errors="replace").replace("\ufffd", "?"))
    return "".join(out)


def test_gbk_misalignment_is_rejected_as_encoding_damage():
    clean = NEWS.replace("\n", "")
    garbled = clean[:60] + _shifted_gbk(clean[60:], every=25)
    assert damage_sites(clean) == 0
    verdict = FilterStage().judge(garbled, "zh")
    assert verdict is not None and verdict[0] == "filter:encoding.damage_sites_per_1k", verdict


def test_utf8_read_as_latin1_and_replacement_characters_are_rejected():
    latin1 = NEWS.encode("utf-8").decode("cp1252", errors="ignore")
    assert FilterStage().judge(latin1)[0] == "filter:encoding.damage_sites_per_1k"
    replaced = NEWS.replace("企业", "\ufffd\ufffd")
    assert FilterStage().judge(replaced, "zh")[0] == "filter:encoding.damage_sites_per_1k"


def test_big5_read_as_gbk_is_rejected_by_its_rare_characters():
    traditional = ("我們今天一起去公園散步，天氣非常好，孩子們在草地上玩耍，老人們在樹下下棋聊天，大家都很開心。"
                   "傍晚的時候，湖邊的風慢慢涼了下來，遠處傳來賣冰淇淋的小販的叫賣聲，幾個學生坐在長椅上討論明天的考試。"
                   "回家的路上，我們經過一家新開的書店，店裡擺滿了各種各樣的小說和畫冊，妹妹挑了一本關於星空的圖書。")
    garbled = traditional.encode("big5").decode("gbk", errors="replace")
    verdict = FilterStage().judge(garbled, "zh")
    assert verdict is not None and verdict[0].startswith("filter:encoding."), verdict
    assert FilterStage().judge(traditional, "zh") is None


def test_a_kaomoji_an_informal_question_mark_and_a_missing_glyph_are_not_damage():
    text = "\n".join(["完成啦(｡･∀･)ﾉﾞ 大家快试试吧", "这个真的好吃吗?我明天也做", "他的名字里有个生僻字\ue4c2，字库里没有。"])
    assert damage_sites(text) == 0 and damaged_lines(text.split("\n")) == set()


def test_each_damage_trace_is_counted_once_per_site():
    # a "?" between Han characters counts when a rare character is near it (a byte lost in a GBK stream)
    assert damage_sites("报道称?氹据了解") == 1 and damage_sites("报道称?的据了解") == 0
    # two private-use characters, one replacement character, three half-width katakana
    assert damage_sites("a\ue000\ue001b \ufffd ｱｲｳ x") == 6
    assert damage_sites("ä¸­æ–‡") == 2 and damage_sites("plain ascii? yes") == 0


def test_a_page_of_layout_tables_is_judged_as_chinese_not_by_english_word_counts():
    page = "\n".join(["| 首页 | 新闻中心 | 政务公开 | 办事服务 |"] * 3
                     + ["| 版权所有 | 某某市人民政府 | 主办单位 |", "Copyright 2012 All rights reserved. Powered by CMS."])
    verdict = FilterStage().judge(page)  # no lang column: the script decides the rule sets
    assert verdict is not None and verdict[0].startswith("filter:chinese."), verdict


def test_a_title_ending_with_a_read_more_word_is_not_a_read_more_link():
    title = "第八届进博会各项配套活动全面展开"
    stats = TextStats("\n".join([title, *NEWS.split("\n")[1:]]), is_cjk=True)
    assert chinese.read_more_lines(stats, chinese.Thresholds()).value == 0.0
    teasers = TextStats("\n".join(["市政府召开常务会议研究部署下半年经济工作…… 展开", "我市举办文化旅游节 阅读全文",
                                   *NEWS.split("\n")[1:4]]), is_cjk=True)
    assert chinese.read_more_lines(teasers, chinese.Thresholds()).value == 2 / 5


# ---- repetition judged on the author's own words (issue 16: comment threads, short news items) ----------------

POST = "【爱女友六大守则】1，女友绝对不会有错。2，如果发现女友有错，一定是我看错。3，如果我没看错，一定是我的错。"
REPLIES = ["哈哈哈，说得太对了[哈哈]", "转发微博。", "我以后就这样做，保证不犯错误", "为什么女人永远是对的呢？",
           "[衰][衰][晕]", "我怎么觉得这话太靠谱了！", "回复@小林同学:你说得对，都是我的错", "看完笑了一下午，分享给朋友们",
           "经典，收藏了慢慢看", "女人伤不起啊[抓狂]"]


def test_a_post_reposted_once_by_a_reader_is_a_quotation_not_repetition():
    thread = "\n".join([POST, *REPLIES[:6], POST, *REPLIES[6:]])
    assert FilterStage().judge(thread, "zh") is None


def test_repost_chains_topic_tags_and_links_are_not_the_thread_repeating_itself():
    chain = "//@大众网朱德泉:" + POST[10:]
    thread = "\n".join([POST, *REPLIES[:3], "顶一个" + chain, "#热门微博# http://t.cn/zYmWLFs",
                        "说得好" + chain, *REPLIES[3:7], "#热门微博# http://t.cn/zYmWLFs",
                        "支持" + chain, "#热门微博# http://t.cn/zYmWLFs", *REPLIES[7:]])
    assert FilterStage().judge(thread, "zh") is None


def test_the_same_comment_posted_many_times_and_repeated_line_spam_are_still_rejected():
    pasted = "\n".join([POST, *REPLIES[:3], *["不在重庆但离重庆很近的能收养么？"] * 8, *REPLIES[3:]])
    assert FilterStage().judge(pasted, "zh")[0] == "filter:chinese.dup_line_frac"
    spam = "\n".join(["全场商品一律八折，欢迎新老顾客光临选购，数量有限先到先得。", "本店所有商品支持七天无理由退换货服务。"] * 3
                     + NEWS.split("\n")[1:4])
    assert FilterStage().judge(spam, "zh") is not None  # two lines, each three times: a pattern
    lines = NEWS.split("\n")
    twice_each = "\n".join([lines[1], lines[3]] * 2 + [lines[5], lines[7]])
    assert FilterStage().judge(twice_each, "zh") is not None  # two lines repeated: more than one quotation


def test_ngram_limits_wait_for_text_long_enough_to_measure():
    caption = "5月19日，在多米尼加首都圣多明各，阿比纳德尔在竞选总部发表胜选演讲。 新华社记者 李梦馨 摄"
    item = "\n".join(["现总统阿比纳德尔宣布赢得多米尼加总统选举",
                      "多米尼加现任总统、现代革命党候选人阿比纳德尔19日晚在竞选总部宣布，他在当天举行的总统选举首轮投票中获胜，成功连任。",
                      caption.replace("阿比纳德尔", "阿比纳德尔（中）"), caption, caption])
    assert FilterStage().judge(item, "zh") is None  # 150 characters: one caption repeated decides no rate
    pasted = "真的好垃圾，快递不发货，卖家不管不问，八天才到我手里，质量也不好，非常薄，布料不好！" * 6
    assert FilterStage().judge(pasted, "zh")[0] == "filter:chinese.dup_10gram_frac"  # 250 characters: long enough


def test_bracket_titles_are_weighed_by_characters():
    article = "\n".join([NEWS.replace("\n", ""), "【食品】假货生存调查：旧皮鞋变成假牛奶原料", "【商贸】外企女白领炒汇五周净赚了一辆宝来",
                         "【招商】欧洲最大尖端技术人才库登陆中国", "【财经】央行宣布下调存款准备金率"])
    assert chinese.bracket_lines(TextStats(article, is_cjk=True), chinese.Thresholds()).keep
    listing = "\n".join(["【干货】二百个建筑工程施工技术强制措施", "【分享】燃气入户安检的依据", "【推荐】装修排线的六个误区",
                         "【必看】造价实操技能", "今天的内容就到这里。"])
    assert not chinese.bracket_lines(TextStats(listing, is_cjk=True), chinese.Thresholds()).keep


def test_a_line_with_a_finished_sentence_inside_is_prose_whatever_its_last_words():
    # paragraphs that close with a credit or a sign-off instead of a full stop, as market notes and wire photos do
    notes = "\n".join([
        "今日汇市点评",
        "美元指数昨日小幅回落，欧元兑美元在欧洲时段一度上涨。市场等待周四公布的通胀数据，交投相对清淡，短线仅供参考",
        "日元走势仍受利差主导，日本央行维持宽松政策不变。阻力位：一百四十五，支撑位：一百四十二，短线仅供参考",
        "澳元受大宗商品价格支撑，铁矿石期货连续三日上涨。今日以震荡为主，短线仅供参考",
        "某某投资管理有限公司研究部",
        "电话：010-12345678 传真：010-12345679"])
    assert chinese.terminal_lines(TextStats(notes, is_cjk=True), chinese.Thresholds()).keep
    forum = "\n".join(["看完这部电影的一点感想", "画面很美，配乐也好.可惜节奏太慢了 ---- 签名：做一只快乐的猫",
                       "同意楼上的看法。结尾有点仓促 ---- 签名：今天也要早睡", "我倒觉得慢一点正好.留白很多 ---- 签名：山高水长",
                       "发布时间 2005-07-22 20:37", "版主 编辑于 2005-07-23"])
    assert chinese.terminal_lines(TextStats(forum, is_cjk=True), chinese.Thresholds()).keep
    # a list of titles has no sentence anywhere: still rejected; so is a list of prices ("3.5" is not a full stop)
    titles = "\n".join(["最新文章", "建筑工程施工技术强制措施汇总", "给你的安装造价技巧和经验分享", "恒大集团工程质量监察细则全文",
                        "家中装修排线的六个常见误区", "说说关于静脉留置针的那些事儿"])
    assert not chinese.terminal_lines(TextStats(titles, is_cjk=True), chinese.Thresholds()).keep
    prices = "\n".join(["今日菜价", "白菜每斤1.5元 萝卜每斤2.0元", "猪肉每斤13.5元 牛肉每斤38.0元", "鸡蛋每斤5.5元 鸭蛋每斤7.0元",
                        "大米每斤2.8元 面粉每斤2.6元", "食用油每升12.0元 酱油每瓶8.5元"])
    assert not chinese.terminal_lines(TextStats(prices, is_cjk=True), chinese.Thresholds()).keep


def test_a_text_about_one_listed_subject_is_not_spam_but_mixed_trade_words_are():
    th = chinese.Thresholds()
    history = ("十二世纪，威尼斯人在君士坦丁堡享有贸易特权。皇帝曾试图取消威尼斯人的特权，威尼斯人随即派出舰队劫掠沿海岛屿。"
               "最终皇帝让步，威尼斯人的商站得以保留。")
    verdict = chinese.bad_words(TextStats(history, is_cjk=True), th)
    assert verdict.keep and verdict.value > th.max_bad_words_per_1k  # dense, but one term: a subject, not a trade
    spam = "威尼斯人现金网，注册送彩金，百家乐真人荷官在线发牌。" + history
    assert not chinese.bad_words(TextStats(spam, is_cjk=True), th).keep


def test_field_lines_of_a_record_are_data_not_unfinished_sentences():
    agenda = "\n".join([
        "第四届经济学年会会议议程",
        "十二月十日全天 代表报到注册",
        "地点：南开大学校内明珠园宾馆大堂",
        "时间：上午八点三十分至下午五点",
        "十二月十一日上午 开幕式与主题演讲",
        "地点：南开大学伯苓楼一楼报告厅",
        "主持人：经济学院院长周教授主持",
        "咨询电话：022-23508981 转 8001",
        "传真：022-23500216 会务组收",
        "备注：请代表提前十分钟入场就座",
        "会议期间提供午餐，请代表凭代表证到第二学生食堂用餐。"])
    verdict = chinese.terminal_lines(TextStats(agenda, is_cjk=True), chinese.Thresholds())
    assert verdict.keep and verdict.value > 0.3  # 1 of 3 prose lines; the 7 fields are not judged as sentences
    assert chinese.FIELD_LINE_RE.match("游客咨询电话：58792888") and chinese.FIELD_LINE_RE.match("时长：01:45")
    # a sentence that quotes someone is not a field: its "label" is longer than a field name or holds punctuation
    assert not chinese.FIELD_LINE_RE.match("东方网记者曹磊5月13日报道：今年的旅游日")
    assert not chinese.FIELD_LINE_RE.match("###网站优化 快速排名 联系QQ：12345")
