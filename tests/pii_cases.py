"""A labelled PII test set, generated deterministically: personal data of every supported type and
format, and decoys that only look like it, each inside a realistic Chinese or English sentence.

Three splits that share no sentence template and no seed: ``tune`` is for developing the detectors;
``report`` was held out until they were done, and its first measurement found one miss (an IPv6
address after a full-width colon); ``fresh`` was written after that fix, and its first measurement
found six (a bracketed landline inside brackets). Both were fixed, so neither split is untouched any
more. tests/test_pii.py asserts the thresholds on ``report`` and ``fresh``; BENCHMARKS.md quotes both. Every value is synthetic (documentation IP ranges, example domains, checksummed but invented ID
and card numbers).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

PER_FORMAT = 6  # sentences per format and split
PER_DECOY = 8  # sentences per decoy kind and split
SEEDS = {"tune": 101, "report": 202}

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
COUNTIES = ["110101", "110105", "120103", "130102", "210203", "230103", "310104", "310115", "320102", "330106",
            "340104", "350203", "370202", "420106", "430104", "440106", "440305", "500103", "510107", "610113"]
AREAS3 = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029"]
AREAS4 = ["0755", "0571", "0512", "0731", "0371", "0532", "0592", "0871", "0991", "0451", "0769", "0898"]
USERS = ["zhangwei", "li.na", "wang_fang", "chen.jie", "liuyang88", "service", "hr", "kefu", "admin", "emma.w",
         "j.smith", "info", "support", "xiao-ming", "sales2024"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.cn", "dept.example.edu.cn", "example.com.cn"]
IDN_DOMAINS = ["例子.中国", "示例.中國", "邮件.公司", "测试.网络", "北京大学.cn", "例子.com", "客服.例子.中国"]
PUNYCODE = ["xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.com", "mail.xn--fiqs8s"]


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(n))


def _luhn_complete(body: str) -> str:
    return body + next(str(d) for d in range(10) if luhn_valid(body + str(d)))


def _luhn_broken(body: str) -> str:
    return body + next(str(d) for d in range(10) if not luhn_valid(body + str(d)))


def _id17(rng: random.Random) -> str:
    return f"{rng.choice(COUNTIES)}{rng.randint(1950, 2008)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{_digits(rng, 3)}"


def _id_check(first17: str) -> str:
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def id18(rng, want_x: bool = False) -> str:
    while True:
        first = _id17(rng)
        if (_id_check(first) == "X") == want_x:
            return first + _id_check(first)


def mobile(rng) -> str:
    return f"1{rng.choice('3456789')}{_digits(rng, 9)}"


def _grouped(number: str, sizes, sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(number[i:i + n])
        i += n
    return sep.join(out)


def card(rng, length: int) -> str:
    prefix = rng.choice(["622202", "622848", "621700", "622588", "623058", "436742", "512345", "453201"])
    return _luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))


def _local(rng, eight: bool = True, first: str = "2345678") -> str:
    return rng.choice(first) + _digits(rng, 7 if eight else 6)


def _ipv4(rng) -> str:
    net = rng.choice(["192.0.2", "198.51.100", "203.0.113", f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
                      f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}", f"192.168.{rng.randint(0, 255)}"])
    return f"{net}.{rng.randint(1, 254)}"


def _hex(rng) -> str:
    return f"{rng.randint(1, 0xffff):x}"


# type -> format -> (value generator, template group)
FORMATS = {
    "EMAIL": {
        "ascii": (lambda r: f"{r.choice(USERS)}@{r.choice(DOMAINS)}", "email"),
        "plus_tag": (lambda r: f"{r.choice(USERS)}+{r.choice(['news', 'cv', 'a1'])}@{r.choice(DOMAINS)}", "email"),
        "underscore_first": (lambda r: f"_{r.choice(USERS)}@{r.choice(DOMAINS)}", "email"),
        "digits_local": (lambda r: f"{r.randint(10000, 9999999999)}@{r.choice(['qq.com', '163.com', '126.com'])}", "email"),
        "uppercase": (lambda r: f"{r.choice(USERS).upper()}@{r.choice(DOMAINS).upper()}", "email"),
        "idn_domain": (lambda r: f"{r.choice(USERS)}@{r.choice(IDN_DOMAINS)}", "email"),
        "punycode": (lambda r: f"{r.choice(USERS)}@{r.choice(PUNYCODE)}", "email"),
        "fullwidth_at": (lambda r: f"{r.choice(USERS)}＠{r.choice(DOMAINS)}", "email"),
    },
    "PHONE": {
        "mobile": (mobile, "phone"),
        "mobile_spaces": (lambda r: _grouped(mobile(r), (3, 4, 4), " "), "phone"),
        "mobile_dashes": (lambda r: _grouped(mobile(r), (3, 4, 4), "-"), "phone"),
        "mobile_plus86": (lambda r: r.choice(["+86 ", "+86-", "+86"]) + r.choice([mobile(r), _grouped(mobile(r), (3, 4, 4), " ")]), "phone"),
        "mobile_0086": (lambda r: r.choice(["0086 ", "0086-", "0086"]) + mobile(r), "phone"),
        "mobile_paren86": (lambda r: r.choice(["(+86)", "(+86) ", "（+86）", "(86)"]) + mobile(r), "phone"),
        "landline_dash": (lambda r: r.choice([f"{r.choice(AREAS3)}-{_local(r)}", f"{r.choice(AREAS4)}-{_local(r, r.random() < 0.5)}"]), "phone"),
        "landline_local_1": (lambda r: f"{r.choice(AREAS3)}-1{_digits(r, 7)}", "phone"),
        "landline_grouped": (lambda r: f"{r.choice(AREAS3)}-{_grouped(_local(r), (4, 4), ' ')}", "phone"),
        "landline_brackets": (lambda r: f"({r.choice(AREAS3 + AREAS4)}){r.choice(['', ' '])}{_local(r)}", "phone"),
        "landline_fullwidth": (lambda r: f"（{r.choice(AREAS3 + AREAS4)}）{_local(r)}", "phone"),
        "landline_extension": (lambda r: f"{r.choice(AREAS3)}-{_local(r)}{r.choice(['-', '转', ' ext. ', '-'])}{r.randint(1, 9999)}", "phone"),
        "service_400": (lambda r: f"400-{r.randint(100, 999)}-{_digits(r, 4)}", "phone"),
        "service_800_spaced": (lambda r: f"800 {r.randint(100, 999)} {_digits(r, 4)}", "phone"),
        "service_bare": (lambda r: f"{r.choice(['400', '800'])}{r.randint(100, 999)}{_digits(r, 4)}", "phone"),
        "international": (lambda r: r.choice([f"+1 ({r.randint(201, 989)}) 555-{_digits(r, 4)}", f"+44 20 {_digits(r, 4)} {_digits(r, 4)}",
                                              f"+852 {r.randint(2, 9)}{_digits(r, 3)} {_digits(r, 4)}", f"+81 3-{_digits(r, 4)}-{_digits(r, 4)}",
                                              f"+49 30 {_digits(r, 8)}"]), "phone"),
        "local_after_keyword": (lambda r: r.choice([_local(r), _grouped(_local(r), (4, 4), " "), _local(r, False)]), "phone_keyword"),
    },
    "ID_CARD": {
        "id18": (id18, "id"),
        "id18_X": (lambda r: id18(r, want_x=True), "id"),
        "id18_lower_x": (lambda r: id18(r, want_x=True).lower(), "id"),
        "id18_grouped": (lambda r: _grouped(id18(r), (6, 8, 4), r.choice([" ", "-"])), "id"),
        "id15_after_keyword": (lambda r: f"{r.choice(COUNTIES)}{r.randint(50, 99)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{_digits(r, 3)}", "id_keyword"),
        "id18_mistyped_after_keyword": (lambda r: (lambda v: v[:17] + next(c for c in "0123456789" if c != v[17]))(id18(r)), "id_keyword"),
    },
    "IP": {
        "ipv4": (_ipv4, "ip"),
        "ipv4_public": (lambda r: f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}", "ip"),
        "ipv6_full": (lambda r: ":".join(["2001", "db8"] + [_hex(r) for _ in range(6)]), "ip"),
        "ipv6_compressed": (lambda r: r.choice([f"2001:db8::{_hex(r)}", f"fe80::{_hex(r)}:{_hex(r)}", f"2001:db8:{_hex(r)}::{_hex(r)}:{r.randint(1, 99)}"]), "ip"),
        "ipv6_mapped": (lambda r: r.choice([f"::ffff:{_ipv4(r)}", f"64:ff9b::{_ipv4(r)}"]), "ip"),
    },
    "BANK_CARD": {
        "card16": (lambda r: card(r, 16), "card"),
        "card19": (lambda r: card(r, 19), "card"),
        "card16_spaces": (lambda r: _grouped(card(r, 16), (4, 4, 4, 4), " "), "card"),
        "card16_dashes": (lambda r: _grouped(card(r, 16), (4, 4, 4, 4), "-"), "card"),
        "card19_grouped": (lambda r: _grouped(card(r, 19), (4, 4, 4, 4, 3), " "), "card"),
        "amex": (lambda r: (lambda v: r.choice([v, _grouped(v, (4, 6, 5), " ")]))(_luhn_complete(r.choice(["34", "37"]) + _digits(r, 12))), "card"),
    },
}

# template group -> split -> language -> sentences with one "{}"
TEMPLATES = {
    "email": {
        "tune": {"zh": ["如有疑问请发邮件至{}，我们会在三个工作日内回复。", "联系人：王女士，邮箱：{}", "投稿邮箱{}，来稿请注明作者姓名。",
                        "请将报名表发送到 {} ，截止日期为本月底。"],
                 "en": ["For questions, email {} and we will reply within three days.", "Contact: Ms. Wang <{}>",
                        "Submissions go to {}; please include your name.", "Send the form to {} by the end of the month."]},
        "report": {"zh": ["简历请投递到{}，邮件标题注明应聘岗位。", "欢迎读者来信（{}）反映问题。", "客服邮箱:{}（工作日9:00-18:00）",
                          "本文作者的联系方式是{}。"],
                   "en": ["Please mail your CV to {} with the position in the subject line.", "Readers can write to us ({}).",
                          "Support: {} (weekdays 9:00-18:00)", "The author can be reached at {}."]},
    },
    "phone": {
        "tune": {"zh": ["如需帮助请拨打{}，我们将竭诚为您服务。", "联系人：李先生 {}", "预约请致电{}，节假日照常营业。",
                        "报名咨询：{}（张老师）"],
                 "en": ["For help, call {} any time.", "Contact: Mr. Li, {}", "Bookings by phone on {}, open on holidays.",
                        "Enquiries: {} (ask for Ms. Zhang)"]},
        "report": {"zh": ["有意者请与{}联系，非诚勿扰。", "门店地址：人民路88号，订座{}。", "失物招领请打{}找王师傅。",
                          "项目负责人手机/座机：{}，欢迎来电。"],
                   "en": ["Interested parties please ring {} during office hours.", "Shop at 88 People's Road, reservations {}.",
                          "Lost property: dial {} and ask for Mr. Wang.", "Project lead, mobile/desk: {}."]},
    },
    "phone_keyword": {
        "tune": {"zh": ["办公室电话：{}，传真另询。", "咨询热线 {}（工作日）"], "en": ["Tel: {} (office hours)", "Phone {} for details."]},
        "report": {"zh": ["前台座机{}，午休时间无人接听。", "联系电话:{}，请勿在夜间拨打。"], "en": ["Fax: {} (reception)", "tel. {}, extension on request"]},
    },
    "id": {
        "tune": {"zh": ["申请人王某，{}，男，汉族。", "经核对，证件{}与本人一致。", "乘客信息：张三 {} 经济舱"],
                 "en": ["Applicant Wang, {}, male.", "The document {} matches the holder.", "Passenger: Zhang San {} economy"]},
        "report": {"zh": ["当事人李某（{}）于当日到案。", "登记信息：{}，住址略。", "请核对下列号码是否正确：{}。"],
                   "en": ["The party Li ({}) appeared that day.", "Registered as {}, address omitted.", "Please check this number: {}."]},
    },
    "id_keyword": {
        "tune": {"zh": ["身份证号：{}，有效期至2030年。", "公民身份号码 {} 已登记。"], "en": ["ID card no. {} was registered.", "Resident ID: {}"]},
        "report": {"zh": ["持身份证{}办理入住。", "证件号码（{}）与原件不符。"], "en": ["Identity card number {} on file.", "National ID {} verified."]},
    },
    "ip": {
        "tune": {"zh": ["服务器地址为{}，端口8080。", "该账号最近一次从{}登录。", "请将DNS设置为 {} 后重试。"],
                 "en": ["The server is at {} on port 8080.", "Last login from {} was blocked.", "Set the DNS server to {} and retry."]},
        "report": {"zh": ["日志显示攻击来自{}，已封禁。", "内网网关：{}", "访问记录中出现了异常地址 {} 。"],
                   "en": ["Logs show the attack came from {}; it is banned.", "Gateway: {}", "An unusual address {} appears in the access log."]},
    },
    "card": {
        "tune": {"zh": ["请将款项汇至卡号{}，户名张三。", "退款已原路返回尾号所在卡（{}）。", "银行卡：{} 中国银行"],
                 "en": ["Please transfer to card {} (holder Zhang San).", "The refund went back to {}.", "Card number: {}, exp 08/27"]},
        "report": {"zh": ["收款账户{}，开户行工商银行。", "他用{}这张卡付了定金。", "绑定的信用卡为 {} 。"],
                   "en": ["Pay into account {} at ICBC.", "He paid the deposit with card {}.", "Linked credit card {}."]},
    },
}


def _version(r):
    return f"{r.randint(1, 12)}.{r.randint(0, 20)}.{r.randint(0, 30)}.{r.randint(0, 255)}"


def _order(r):
    body = str(r.randint(2, 6)) + _digits(r, r.choice([14, 15, 17]))
    return _luhn_complete(body)  # Luhn-valid on purpose: only the context says it is not a card


# decoy kind -> (generator, split -> language -> templates)
DECOYS = {
    "version": (_version, {"tune": {"zh": ["请升级到版本{}后再试。", "固件版本号：{}"], "en": ["Upgrade to version {} first.", "Firmware ver. {} is required."]},
                           "report": {"zh": ["本软件当前版本{}，更新日志见官网。", "内核升级至{}后问题消失。"], "en": ["Release {} fixes the crash.", "Tested on build {} only."]}}),
    "section": (_version, {"tune": {"zh": ["详见第{}条的规定。"], "en": ["See section {} of the manual."]},
                           "report": {"zh": ["依据规范{}执行。"], "en": ["As required by clause {}."]}}),
    "date": (lambda r: r.choice([f"{r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}", f"{r.randint(1990, 2030)}/{r.randint(1, 12):02d}/{r.randint(1, 28):02d}",
                                 f"{r.randint(1990, 2030)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}", f"{r.randint(1990, 2030)}.{r.randint(1, 12):02d}.{r.randint(1, 28):02d}"]),
             {"tune": {"zh": ["会议定于{}举行。", "截止日期{}，逾期不候。"], "en": ["The meeting is on {}.", "Deadline: {}"]},
              "report": {"zh": ["本通知自{}起施行。", "发布时间：{} 来源：新华社"], "en": ["Effective from {} onwards.", "Published {} by the agency."]}}),
    "timestamp": (lambda r: r.choice([str(r.randint(1_300_000_000, 1_800_000_000)), str(r.randint(1_300_000_000_000, 1_800_000_000_000)),
                                      f"{r.randint(2000, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
                                      f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"]),
                  {"tune": {"zh": ["时间戳{}对应的时刻已记录。"], "en": ["created_at={} in the log"]},
                   "report": {"zh": ["日志时间：{}，级别INFO。"], "en": ["Event time {} (UTC)."]}}),
    "order_number": (_order, {"tune": {"zh": ["您的订单号{}已发货。", "运单号：{}，请注意查收。"], "en": ["Order no. {} has shipped.", "Tracking number: {}"]},
                              "report": {"zh": ["交易号 {} 已退款。", "快递单号{}显示已签收。"], "en": ["Invoice #{} is overdue.", "Transaction ID {} was refunded."]}}),
    "serial_bad_luhn": (lambda r: (lambda v: r.choice([v, _grouped(v, (4, 4, 4, 4), " ")[:len(v) + 3]]))(_luhn_broken(str(r.randint(2, 6)) + _digits(r, 14))),
                        {"tune": {"zh": ["设备背面印有{}字样。"], "en": ["The label reads {}."]},
                         "report": {"zh": ["包装盒上的条码是{}。"], "en": ["Barcode {} on the box."]}}),
    "id_bad_check": (lambda r: (lambda v: v[:17] + next(c for c in "0123456789" if c != v[17]))(id18(r)),
                     {"tune": {"zh": ["档案编码{}已归档。"], "en": ["Archive code {} filed."]},
                      "report": {"zh": ["票据流水{}无效。"], "en": ["Reference {} is invalid."]}}),
    "model_number": (lambda r: r.choice([f"ABC-{mobile(r)[:3]}-{_digits(r, 4)}-{_digits(r, 4)}", f"SKU-{r.randint(2018, 2030)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}-{_digits(r, 4)}",
                                         f"XT-{r.choice(AREAS3)}-{_local(r)}", f"RTX-{r.randint(1000, 9999)}-{_digits(r, 8)}"]),
                     {"tune": {"zh": ["型号{}的产品已停产。", "配件编号：{}"], "en": ["Model {} is discontinued.", "Part number {}"]},
                      "report": {"zh": ["本机规格{}，附说明书。"], "en": ["Spec {} ships with a manual."]}}),
    "price": (lambda r: r.choice([f"¥{r.randint(1, 99)},{_digits(r, 3)}.{_digits(r, 2)}", f"${r.randint(1, 999)},{_digits(r, 3)}.99", f"{r.randint(1, 99)},{_digits(r, 3)},{_digits(r, 3)}元",
                                  f"￥{r.randint(100, 99999)}"]),
              {"tune": {"zh": ["售价{}，包邮。"], "en": ["Price: {} incl. tax"]}, "report": {"zh": ["合同总额{}。"], "en": ["The bid was {}."]}}),
    "isbn": (lambda r: r.choice([f"978-7-{r.randint(100, 999)}-{_digits(r, 5)}-{r.randint(0, 9)}", f"978{_digits(r, 10)}", f"7-{r.randint(100, 999)}-{_digits(r, 5)}-{r.choice('0123456789X')}"]),
             {"tune": {"zh": ["书号ISBN {}"], "en": ["ISBN {}"]}, "report": {"zh": ["本书ISBN：{}，定价58元。"], "en": ["Cite as ISBN {} (2nd ed.)."]}}),
    "coordinates": (lambda r: r.choice([f"{r.uniform(18, 53):.4f}, {r.uniform(73, 135):.4f}", f"北纬{r.uniform(18, 53):.4f}°，东经{r.uniform(73, 135):.4f}°",
                                        f"({r.uniform(18, 53):.6f},{r.uniform(73, 135):.6f})"]),
                    {"tune": {"zh": ["坐标{}附近有加油站。"], "en": ["Coordinates {} mark the spot."]}, "report": {"zh": ["定位显示{}。"], "en": ["GPS fix at {}."]}}),
    "mac_and_times": (lambda r: r.choice([":".join(f"{r.randint(0, 255):02X}" for _ in range(6)), f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}", f"{r.randint(0, 9)}:{r.randint(0, 9)}"]),
                      {"tune": {"zh": ["网卡地址{}已加入白名单。"], "en": ["MAC {} whitelisted."]}, "report": {"zh": ["比分定格在{}。"], "en": ["Final reading {}."]}}),
    "counts": (lambda r: r.choice([str(r.randint(100_000_000, 9_999_999_999)), f"{r.randint(1, 999)},{_digits(r, 3)},{_digits(r, 3)}", str(r.randint(100000, 999999))]),
               {"tune": {"zh": ["全市常住人口{}人。"], "en": ["Population: {}"]}, "report": {"zh": ["邮编{}"], "en": ["Sample size {} units."]}}),
    "handle": (lambda r: r.choice(["@张三", "@" + r.choice(USERS), r.choice(USERS) + "@", "@例子", r.choice(USERS) + " at example dot com"]),
               {"tune": {"zh": ["用户{}说：好。"], "en": ["Thanks {} for the tip"]}, "report": {"zh": ["转发给{}看看"], "en": ["cc {} please"]}}),
    "code_identifiers": (lambda r: r.choice(["std::vector", "dead::beef", "a::b", "Foo::Bar::baz", f"v{_version(r)}", f"node{_version(r)}"]),
                         {"tune": {"zh": ["代码里用了{}。"], "en": ["The code calls {}."]}, "report": {"zh": ["报错位置：{}"], "en": ["Stack frame {}."]}}),
    "slices_and_formulas": (lambda r: r.choice([f"x[:, {r.randint(0, 1)}::{r.randint(2, 4)}]", f"a[{r.randint(0, 9)}::{r.randint(1, 9)}]",
                                                f"1-{r.randint(1, 3)}.{r.randint(0, 1)}.{r.randint(1, 4)}.{r.randint(1, 3)}-{r.randint(1, 3)}"]),
                            {"tune": {"zh": ["切片写法{}取偶数列。"], "en": ["The slice {} takes every other column."]},
                             "report": {"zh": ["齿式为{}。"], "en": ["Indexing with {} skips rows."]}}),
    "software_versions": (lambda r: r.choice([f"Chrome/{r.randint(90, 130)}.0.0.0", f"Android {r.randint(4, 14)}.{r.randint(0, 4)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
                                              f"pkg=={_version(r)}", f"Firefox/{r.randint(90, 130)}.0.{r.randint(0, 9)}.{r.randint(0, 9)}"]),
                          {"tune": {"zh": ["浏览器标识：{} 已记录"], "en": ["User agent {} (KHTML, like Gecko)"]},
                           "report": {"zh": ["环境：{}，复现步骤如下"], "en": ["Reproduced with {} only."]}}),
}


# The third split: new sentences and a new seed, written after the detectors were done.
FRESH = {
    "email": {"zh": ["「{}」是我们唯一的官方邮箱。", "有问题可以写信给我们\n{}\n感谢支持", "作者简介：王某，博士，E-mail:{}"],
              "en": ["Email: \"{}\"", "Questions?\t{}", "(corresponding author: {})"]},
    "phone": {"zh": ["【联系方式】{}【地址】海淀区", "订餐电话：{}；外卖请提前预约", "王经理（{}）负责接待"],
              "en": ["Call us at {}.", "[contact] {} [address] Haidian", "Mr. Wang ({}) will meet you"]},
    "phone_keyword": {"zh": ["办事处电话{}"], "en": ["Phone: {}"]},
    "id": {"zh": ["姓名：赵六\n{}\n性别：女", "「{}」为本人号码"], "en": ["Name: Zhao Liu\n{}\nSex: F", "number \"{}\" belongs to the holder"]},
    "id_keyword": {"zh": ["身份证号码为{}的当事人"], "en": ["ID card #{}"]},
    "ip": {"zh": ["【来源IP】{}【时间】昨日", "客户端（{}）请求超时"], "en": ["client={} status=504", "blocked ({}) after 5 tries"]},
    "card": {"zh": ["【卡号】{}【户名】李四", "尾号所在的卡为{}，请核实"], "en": ["card={} amount=300", "(card {}) charged twice"]},
}
FRESH_DECOYS = {
    "version": {"zh": ["【版本】{}【日期】昨日"], "en": ["version={} (stable)"]},
    "section": {"zh": ["见第{}条注释"], "en": ["(see section {})"]},
    "date": {"zh": ["【日期】{}"], "en": ["date={}"]},
    "timestamp": {"zh": ["生成于{}"], "en": ["ts={}"]},
    "order_number": {"zh": ["【订单号】{}"], "en": ["order #{} confirmed"]},
    "serial_bad_luhn": {"zh": ["机身编码{}"], "en": ["serial={}"]},
    "id_bad_check": {"zh": ["档案号{}"], "en": ["record={}"]},
    "model_number": {"zh": ["【型号】{}"], "en": ["model={}"]},
    "price": {"zh": ["【价格】{}"], "en": ["total={}"]},
    "isbn": {"zh": ["（ISBN {}）"], "en": ["isbn={}"]},
    "coordinates": {"zh": ["【位置】{}"], "en": ["loc={}"]},
    "mac_and_times": {"zh": ["【MAC】{}"], "en": ["mac={}"]},
    "counts": {"zh": ["【数量】{}"], "en": ["count={}"]},
    "handle": {"zh": ["【作者】{}"], "en": ["by {}"]},
    "code_identifiers": {"zh": ["【调用】{}"], "en": ["call={}"]},
    "software_versions": {"zh": ["【环境】{}"], "en": ["env={}"]},
    "slices_and_formulas": {"zh": ["【切片】{}"], "en": ["slice={}"]},
}
for _group, _by_lang in FRESH.items():
    TEMPLATES[_group]["fresh"] = _by_lang
for _kind, _by_lang in FRESH_DECOYS.items():
    DECOYS[_kind][1]["fresh"] = _by_lang
SEEDS["fresh"] = 303


@dataclass
class Case:
    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # gold (start, end, type)
    kind: str = ""  # "PHONE/landline_fullwidth" or "decoy/version"
    lang: str = "zh"


def _place(template: str, value: str) -> tuple[str, int]:
    prefix, suffix = template.split("{}")
    return prefix + value + suffix, len(prefix)


def build_cases(split: str) -> list[Case]:
    """Every format PER_FORMAT times and every decoy kind PER_DECOY times, in both languages."""
    rng = random.Random(SEEDS[split])
    cases = []
    for typ, formats in FORMATS.items():
        for fmt, (gen, group) in formats.items():
            for i in range(PER_FORMAT):
                lang = ("zh", "en")[i % 2]
                value = gen(rng)
                text, start = _place(rng.choice(TEMPLATES[group][split][lang]), value)
                cases.append(Case(text, [(start, start + len(value), typ)], f"{typ}/{fmt}", lang))
    for kind, (gen, templates) in DECOYS.items():
        for i in range(PER_DECOY):
            lang = ("zh", "en")[i % 2]
            text, _ = _place(rng.choice(templates[split][lang]), gen(rng))
            cases.append(Case(text, [], f"decoy/{kind}", lang))
    return cases


def score(cases: list[Case], find) -> dict[str, dict]:
    """Per type: recall = planted values fully covered by a finding of their type; precision = findings that
    overlap a planted value of their type. ``find(text)`` returns (start, end, type) findings."""
    planted, caught, found, right = Counter(), Counter(), Counter(), Counter()
    misses, false_hits = [], []
    for case in cases:
        findings = find(case.text)
        for s, e, typ in case.spans:
            planted[typ] += 1
            if any(fs <= s and e <= fe and ft == typ for fs, fe, ft in findings):
                caught[typ] += 1
            else:
                misses.append((case.kind, case.text, findings))
        for fs, fe, ft in findings:
            found[ft] += 1
            if any(fs < e and s < fe and typ == ft for s, e, typ in case.spans):
                right[ft] += 1
            else:
                false_hits.append((case.kind, case.text, case.text[fs:fe], ft))
    out = {}
    for typ in sorted(set(planted) | set(found)):
        out[typ] = {"planted": planted[typ], "caught": caught[typ], "found": found[typ], "right": right[typ],
                    "recall": caught[typ] / planted[typ] if planted[typ] else 1.0,
                    "precision": right[typ] / found[typ] if found[typ] else 1.0}
    out["_misses"], out["_false_hits"] = misses, false_hits
    return out
