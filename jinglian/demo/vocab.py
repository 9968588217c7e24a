"""Word lists and sentence pieces for the demo corpus, written for this project.

Sentences are assembled from short clause templates with many slots (places,
people, topic nouns, numbers), so two generated documents share little beyond
their site boilerplate. ``{x}`` marks a slot filled by :mod:`jinglian.demo.corpus`.
"""

from __future__ import annotations


def words(s: str) -> list[str]:
    return s.split()


# ---------------------------------------------------------------- Chinese, shared
ZH_SURNAMES = words("王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 彭 曾 肖 田 董 袁 潘 于 蒋 蔡 余 杜 叶 程 苏 魏 吕 丁 任 沈 姚 卢 姜 崔 钟 谭 陆 汪 范 金 石 廖 贾 夏 韦 付 方 白 邹 孟 熊 秦 邱 江 尹 薛 闫 段 雷 侯 龙 史 陶 黎 贺 顾 毛 郝 龚 邵 万 钱 严 覃 武 戴 莫 孔 向 汤")
ZH_GIVEN = words("伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀 霞 平 刚 桂 英 华 玉 萍 红 鹏 辉 建 文 斌 宇 浩 凯 健 俊 帆 帅 旭 宁 龙 林 欣 晨 雪 琳 晶 妍 茜 秋 珊 莎 锦 黛 青 倩 婷 姣 婉 娴 瑾 颖 露 瑶 怡 婵 雁 蓓 纨 仪 荷 丹 蓉 眉 君 琴 蕊 薇 菁 梦 岚 苑 婕 馨 瑗 琰 韵 融 园 艺 咏 卿 聪 澜 纯 毓 悦 昭 冰 爽 琬 茗 羽 希 峰 毅 然 哲 博 睿 思 远 志 诚 嘉 启 星 航 泽 安 立 振 海 云 山 川 德 义 兴 良 福 生 成 康 亮 正 新 鑫 源 昊 霖 铭 睿")
ZH_PLACES = words("北京 上海 天津 重庆 杭州 宁波 温州 南京 苏州 无锡 常州 徐州 合肥 芜湖 福州 厦门 泉州 南昌 赣州 济南 青岛 烟台 潍坊 郑州 洛阳 开封 武汉 宜昌 襄阳 长沙 株洲 岳阳 广州 深圳 佛山 东莞 珠海 南宁 桂林 柳州 海口 三亚 成都 绵阳 宜宾 贵阳 遵义 昆明 大理 丽江 拉萨 西安 宝鸡 延安 兰州 天水 西宁 银川 乌鲁木齐 喀什 呼和浩特 包头 沈阳 大连 鞍山 长春 吉林 哈尔滨 齐齐哈尔 石家庄 保定 唐山 太原 大同 嘉兴 绍兴 金华 台州 扬州 泰州 盐城 连云港 淮安 黄山 景德镇 九江 临沂 日照 威海 南阳 信阳 荆州 常德 衡阳 湛江 汕头 惠州 北海 自贡 乐山 安顺 曲靖 汉中 酒泉 格尔木 吴忠 赤峰 锦州 延边 牡丹江 秦皇岛 邯郸 平遥")
ZH_DISTRICTS = words("城东区 高新区 经开区 滨江新区 老城区 西湖畔 南湖街道 北关镇 河西片区 东山村 青石镇 临港新城 双桥乡 望江社区 柳树湾 桃源村 清水河镇 枫林街道 白沙洲 石门乡 龙泉镇 翠屏山下 新华路一带 解放街 梧桐巷 长安路 金沙湾 锦江沿岸 云溪村 凤凰岭 大柳树村 红旗社区 西郊农场 湖滨路 花园街道")
ZH_ORG_KINDS = words("研究院 发展中心 管理局 服务站 协会 合作社 科技公司 实验室 联合会 办事处 工作站 委员会 商会 博物馆 图书馆 职业学院 人民医院 文化馆 产业园 检测中心")
ZH_GROUPS = words("居民 村民 游客 家长 学生 老人 年轻人 上班族 创业者 种植户 养殖户 志愿者 企业主 快递员 外卖骑手 社区工作者 乡村教师 退休职工 新市民 个体商户 医护人员 高校毕业生 外地务工人员 小微企业主 网约车司机")
ZH_CONNECT = words("此外， 同时， 与此同时， 另一方面， 值得一提的是， 据了解， 记者注意到， 事实上， 不仅如此， 不过， 从长远看， 总体来看， 具体来说， 在此基础上， 更重要的是， 说起来， 相比之下，")
ZH_ADJ = words("精细化 系统性 可持续 常态化 数字化 规范化 多元化 便捷 高效 务实 稳定 灵活 开放 安全 绿色 低成本 全流程 一站式 智能化 标准化")

# Topic -> (section name, nouns). Nouns carry the topic; templates carry the grammar.
ZH_TOPICS: dict[str, tuple[str, list[str]]] = {
    "tech": ("科技", words("人工智能 大模型 芯片设计 量子计算 通信基站 工业互联网 数据中心 自动驾驶 智能终端 云计算平台 开源社区 算力网络 传感器 服务机器人 操作系统 新型显示 卫星互联网 智能网联汽车 工业软件 语音识别")),
    "economy": ("财经", words("消费市场 跨境电商 中小企业 外贸订单 制造业投资 物流网络 夜间经济 社区商业 服务贸易 产业园区 农产品电商 新能源汽车 专精特新企业 营商环境 县域经济 直播带货 首店经济 供应链金融")),
    "education": ("教育", words("义务教育 职业院校 课后服务 毕业生就业 乡村学校 研学旅行 在线课程 实验室建设 校园图书馆 校园食堂 人才培养方案 产教融合 招生计划 劳动教育 教师培训 学前教育 双语课堂")),
    "health": ("健康", words("社区医院 家庭医生 慢性病管理 医保报销 中医药服务 疫苗接种 健康体检 远程会诊 老年护理 心理健康服务 急救培训 药品集中采购 儿科门诊 康复中心 互联网医院 营养膳食")),
    "culture": ("文化", words("非物质文化遗产 地方博物馆 地方戏曲 古籍修复 文创产品 民俗活动 书法展览 历史街区 实体书店 纪录片拍摄 传统村落 音乐节 剪纸技艺 皮影戏 地方方言 老字号 陶瓷工艺 年画")),
    "environment": ("环保", words("湿地公园 垃圾分类 河道治理 空气质量 植树造林 碳排放核算 生物多样性 光伏电站 风电项目 节水灌溉 生态修复 候鸟保护 海岸线整治 土壤监测 废旧电池回收 绿色建筑 清洁取暖")),
    "farming": ("三农", words("高标准农田 智慧农业 良种繁育 春耕备耕 秋粮收购 设施大棚 生态茶园 果园管护 农民合作社 冷链仓储 农机作业 特色种植 稻渔共生 林下经济 农村电商 庭院经济 小麦种植")),
    "sports": ("体育", words("城市马拉松 青少年足球 全民健身中心 乒乓球训练 冰雪运动 社区篮球赛 游泳馆 体育公园 田径训练 羽毛球俱乐部 龙舟赛 登山步道 骑行绿道 围棋培训 体育课改革")),
    "travel": ("旅游", words("古镇旅游 露营地 自驾线路 景区预约 乡村民宿 红色旅游 研学基地 夜游项目 温泉度假 徒步路线 博物馆游 边境旅游 非遗体验游 邮轮航线 森林康养")),
    "city": ("城市", words("老旧小区改造 地铁新线 公交线路优化 停车位改造 口袋公园 充电桩建设 社区食堂 便民服务中心 加装电梯 城市更新 背街小巷整治 雨污分流 智慧社区 菜市场改造 共享单车管理 适老化改造")),
}

ZH_NEWS_OPEN = [
    "{date}，", "记者{date}从{org}获悉，", "据{org}介绍，", "{place}日前", "今年以来，", "近年来，",
    "截至{month}月底，", "在{place}{district}，", "走进{place}{district}，", "{person}介绍说，",
    "{org}最新数据显示，", "{season}时节，", "从{org}传来消息，", "最近一段时间，", "{year}年起，",
    "{connect}",
]
ZH_NEWS_BODY = [
    "{noun}建设取得新进展", "{place}共完成{noun}项目{num}个", "{noun}惠及{group}超过{num}万人次",
    "相关投入同比增长{pct}", "{group}对{noun}的满意度明显提升", "不少{group}开始关注{noun}",
    "{org}推出了{few}项{adj}举措", "{noun}和{noun2}的结合越来越紧密", "当地把{noun}列为{year}年的重点工作",
    "{noun}中长期存在的{problem}问题逐步缓解", "{district}的{noun}已经初具规模", "{group}参与{noun}的积极性很高",
    "{noun}的覆盖范围扩大到{few}0个乡镇", "一批{adj}的{noun}示范点陆续建成", "{org}与{org2}签订了合作协议",
    "{noun}带动周边{group}年均增收{money}元", "{place}的{noun}经验被写进了年度报告", "{noun}服务实现了{adj}运行",
    "累计投入资金{amount}亿元", "{group}办理相关事项的时间缩短了{pct}", "全年接待{group}{num}万人次",
    "{person}和同事们连续{few}天守在一线", "{noun}的标准体系不断完善", "{place}在{noun}方面走在了前列",
]
ZH_NEWS_CLOSE = [
    "为{goal}提供了有力支撑", "让{group}得到了实实在在的好处", "下一步还将{plan}", "这一做法得到了{group}的普遍认可",
    "预计到{year}年将{plan}", "形成了可复制、可推广的经验", "{group}的获得感进一步增强", "也为周边地区提供了参考",
    "相关工作仍在有序推进", "后续效果还有待进一步观察", "目前已有{few}家单位参与其中", "受到了{place}{group}的好评",
]
ZH_GOALS = words("乡村振兴 产业升级 民生改善 城乡融合 高质量发展 区域协调发展 基层治理 绿色转型 文化传承 科技创新")
ZH_PLANS = [
    "扩大{noun}的试点范围", "完善{noun}的长效机制", "在{few}个街道推广{noun}", "加大对{noun}的资金支持",
    "引入更多社会力量参与{noun}", "建立{noun}的考核评价办法", "把{noun}延伸到偏远山区", "推动{noun}和{noun2}协同发展",
]
ZH_PROBLEMS = words("资金不足 人手紧张 标准不一 信息不对称 重建轻管 服务分散 审批繁琐 设施老化 供需错配 效率偏低")
ZH_QUOTES = [
    "以前{past}，现在{now}，心里踏实多了", "我们最关心的是{noun}能不能真正落地", "{noun}这件事，说到底还是要让{group}满意",
    "这几年变化太大了，{now}", "接下来我们想在{noun}上再下点功夫", "刚开始大家都有顾虑，后来发现{now}",
    "每天忙是忙一点，但看到{group}的笑脸就值了", "{noun}不是一阵风，得久久为功",
]
ZH_PAST = ["办事要跑好几趟", "一到雨天就发愁", "村里年轻人都往外走", "排队要等大半天", "信息全靠口口相传", "设备老旧经常出故障", "晚上出门黑灯瞎火"]
ZH_NOW = ["手机上就能办", "家门口就有服务点", "收入比过去翻了一番", "一个电话就有人上门", "有专人帮忙对接", "路灯亮到了家门口", "孩子放学有地方去"]
ZH_QUOTE_LEAD = ["{person}说：“{quote}。”", "“{quote}。”{person}笑着说。", "在{org}工作的{person}告诉记者：“{quote}。”", "谈起{noun}，{person}感慨：“{quote}。”"]
ZH_SEASONS = words("春耕 盛夏 金秋 初冬 立春 谷雨 芒种 白露 霜降 小寒")
ZH_TITLE_TAILS = ["让{group}更有获得感", "跑出加速度", "交出新答卷", "迈出新步伐", "的新探索", "背后的故事", "按下快进键", "走进寻常百姓家", "激活发展新动能", "这样做"]

# Forum: first-person posts about everyday matters.
ZH_BOARDS: dict[str, tuple[str, list[str]]] = {
    "home": ("装修交流", words("瓷砖 橱柜 地暖 防水层 乳胶漆 吊顶 水电改造 衣柜 卫生间 阳台 窗帘 马桶 木地板 开关插座 墙面")),
    "parenting": ("育儿心得", words("辅食 绘本 幼儿园 早教课 奶粉 睡眠习惯 疫苗本 儿童座椅 英语启蒙 午睡 手工课 兴趣班 积木")),
    "digital": ("数码讨论", words("笔记本电脑 机械键盘 降噪耳机 路由器 移动硬盘 显示器 平板 电纸书 智能手表 充电宝 相机镜头 台式机")),
    "food": ("美食天地", words("红烧肉 手擀面 酸菜鱼 蛋糕胚 卤味 饺子馅 豆浆机 空气炸锅 腌笃鲜 麻婆豆腐 烤箱 发面 凉拌菜")),
    "pets": ("宠物之家", words("猫砂 狗粮 驱虫药 猫抓板 牵引绳 宠物医院 疫苗 洗澡 掉毛 绝育手术 猫爬架 冻干")),
    "study": ("考研考公", words("错题本 真题 专业课 英语作文 复试 申论 行测 背单词 网课 自习室 时间表 模拟考")),
}
ZH_FORUM_OPEN = ["说实话，", "先说结论，", "楼主{month}月份", "我家{relative}", "上周末", "前段时间", "之前看论坛里有人问", "用了{few}个月之后", "刚开始的时候", "折腾了好久，", "补充一下，", "顺便说一句，", "{connect}"]
ZH_FORUM_BODY = [
    "买了{item}，花了{money}块钱", "对比了{few}家店的{item}", "{item}的问题一直没解决", "发现{item}比想象中好用",
    "跟{relative}商量了半天{item}的事", "在{place}找了一家店看{item}", "每天花{few}0分钟弄{item}", "{item}换了{few}次才满意",
    "网上说{item}要注意{tip}", "{item}和{item2}到底选哪个纠结了很久", "师傅建议先把{item}处理好", "{item}的价格比去年便宜了不少",
]
ZH_FORUM_CLOSE = [
    "整体来说还算满意", "建议大家多问几家再决定", "有经验的朋友欢迎指点", "后面有新情况再来更新", "希望对后来的人有帮助",
    "钱花了但是心里舒服", "这一点真的要提前想好", "不然后面返工更麻烦", "算是踩过的坑吧", "以上纯属个人体验",
]
ZH_RELATIVES = words("老婆 老公 孩子 爸妈 婆婆 室友 表姐 同事 闺蜜 邻居")
ZH_TIPS = words("尺寸 保修期 售后 材质 噪音 散热 甲醛 温度 火候 时间安排 配件 电压")

# ---------------------------------------------------------------- Chinese defects
ZH_CASINOS = words("澳门金沙 新葡京 太阳城 百家乐 永利皇宫 威尼斯人 银河娱乐 皇冠体育 六合彩 时时彩")
ZH_SPAM_LINES = [
    "【{casino}】官方网站###注册即送{money}元###", "###{casino}娱乐城###真人荷官在线发牌###", "【加微信{wx}】日赚{money}元，轻松在家做兼职",
    "【{casino}】首存{money}送{money2}，提款秒到账！！！", "###网站优化 快速排名 百度首页 联系QQ：{qq}###", "【代开发票】{place}各类发票 联系电话：{phone}",
    "点击进入→→→ www.{domain}.com ←←← 注册送彩金", "【免费领取】{casino}VIP会员 立即注册###", "【独家内幕】{casino}必中技巧 加群{qq}",
    "###高仿名表 一比一复刻###微信：{wx}###", "【贷款秒批】无抵押 当天放款 热线{phone}",
]
# Shop marketing copy: fluent and well punctuated, so surface rules pass it; a quality classifier should not.
ZH_PRODUCTS = words("空气炸锅 扫地机器人 电动牙刷 蓝牙耳机 保温杯 羽绒服 运动鞋 面霜 猫粮 行李箱 台灯 榨汁机 电热毯 双肩包 茶具 按摩椅 电饭煲 加湿器")
ZH_PROMO_SENTENCES = [
    "本店新款{item}今天正式上架，限时特价只要{money}元，全国包邮。", "亲们，{item}库存已经不多了，喜欢的朋友要抓紧时间下单哦！",
    "现在下单立减{money}元，买两件再送一件，活动只剩最后{few}天。", "我们的{item}全部由厂家直供，没有中间商赚差价，品质有保障。",
    "收到货后如果不满意，七天之内可以无理由退换，运费由本店承担。", "已经有{num}位顾客给了五星好评，回头客越来越多。",
    "关注店铺还可以领取{money}元优惠券，会员再享九五折。", "{place}地区的顾客下单后，最快第二天就能收到货。",
    "这款{item}是今年最火的爆款，明星同款，闭眼入绝对不会后悔。", "客服二十四小时在线，有任何问题都可以随时咨询我们。",
    "数量有限，先到先得，错过了今天就要再等一年了！", "老顾客回购再送精美礼品一份，感谢大家一直以来的支持。",
    "直播间今晚八点准时开播，{item}会有全网最低价。", "不要犹豫了，点击下方链接就能直接购买，还能参加抽奖。",
    "{item}采用进口材料，做工精细，用上一次你就会爱上它。", "现在买{item}还送{few}件小赠品，数量有限送完即止。",
]
ZH_PROMO_TITLES = ["{item}限时特价，全国包邮", "{item}厂家直销，买二送一", "今年最火的{item}，店庆狂欢价", "{item}新品上市，领券立减{money}元"]
ZH_NAV = ["首页 | 新闻中心 | 产品展示 | 关于我们 | 联系我们", "热门推荐 展开", "查看更多", "阅读全文", "相关文章 更多", "上一篇：{title}", "下一篇：{title}",
          "友情链接：{place}门户 | {place}生活网 | 演示导航", "版权所有 © {year} {place}信息网 保留所有权利", "网站地图 | 隐私政策 | 免责声明", "分享到：微信 微博 QQ空间",
          "{place}热线 展开", "最新评论 更多", "点击排行 更多", "扫一扫关注我们", "登录 | 注册", "当前位置：首页 > {section} > 列表"]
ZH_STUFF_KEYWORDS = ["二手房", "减肥茶", "英语培训", "搬家公司", "空调维修", "seo优化", "月嫂服务", "驾校报名", "装修公司", "代写论文"]
ZH_STUFF_PATTERNS = ["{kw}哪家好", "{place}{kw}", "{kw}价格", "专业{kw}", "{kw}电话", "最好的{kw}", "{kw}推荐", "便宜的{kw}", "{kw}排名", "正规{kw}"]
ZH_SHORT = ["沙发", "顶！", "页面不存在", "加载中……", "暂无内容", "谢谢分享", "已阅", "内容已删除", "楼主好人", "无标题", "mark一下", "支持一下！"]

# ---------------------------------------------------------------- English
EN_FIRST = words("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph Jessica Thomas Sarah Chris Karen Daniel Lisa Matthew Nancy Anthony Betty Mark Sandra Paul Ashley Steven Emily Andrew Donna Kevin Michelle Brian Carol George Amanda Tim Melissa Ed Deborah Ron Stephanie Jason Rebecca Ryan Sharon Jacob Laura Gary Cynthia Nick Kathleen Eric Amy Jonathan Angela Stephen Shirley Larry Anna Justin Brenda Scott Pamela Frank Nicole Ben Emma Greg Helen Sam Samantha Ray Katherine Pat Christine Alex Debra Jack Rachel Dennis Carolyn Jerry Janet Tyler Maria Aaron Olivia Jose Heather Adam Diane Nathan Julie Henry Joyce Zach Victoria")
EN_LAST = words("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez")
EN_PLACES = words("Portland Bristol Ashford Millbrook Riverton Oakdale Fairview Kingston Greenville Lakewood Springfield Hartley Westbury Cedar-Falls Maplewood Brookside Newport Hillcrest Elmstead Clearwater Stonebridge Redmond Ashland Bayport Dunmore Glenwood Harlow Ironton Juniper Kenmore Lowell Marlow Northfield Oxley Pinecrest Queensbury Rockport Salem Thornbury Upton Vernon Whitby Yardley")
EN_TOPICS: dict[str, tuple[str, list[str]]] = {
    "garden": ("Gardening", words("tomato-seedlings raised-beds compost-bin rain-barrel clay-soil heirloom-beans mulch cold-frame pollinator-strip fruit-trees seed-catalogue greenhouse herb-spiral drip-irrigation leaf-mould")),
    "cooking": ("Cooking", words("sourdough-starter cast-iron-pan stock-pot spice-rack weeknight-curry fermented-cabbage pasta-dough pie-crust slow-cooker knife-skills pantry-staples braised-beans")),
    "software": ("Software", words("build-pipeline unit-tests code-review database-migration memory-leak logging-setup feature-flags dependency-updates type-checker release-notes monorepo cache-layer")),
    "travel": ("Travel", words("night-train hostel-dorm coastal-path mountain-hut ferry-crossing rail-pass packing-list border-town street-market old-harbour museum-pass walking-tour")),
    "finance": ("Money", words("household-budget emergency-fund index-funds grocery-bill energy-bill pension-plan credit-score used-car rent-increase tax-return savings-account side-income")),
    "cycling": ("Cycling", words("gravel-bike chain-wear tubeless-tyres commute-route bike-lane saddle-height winter-gloves touring-bags puncture-kit hill-repeats group-ride disc-brakes")),
    "local": ("Local", words("library-branch bus-route farmers-market school-board town-hall water-main park-renovation food-bank bike-share housing-plan youth-club community-garden")),
    "photo": ("Photography", words("prime-lens film-camera golden-hour tripod-head darkroom raw-files street-portraits long-exposure light-meter print-shop contact-sheet lens-cap")),
}
EN_OPEN = ["Last {weekday}, ", "A few weeks ago, ", "Honestly, ", "For the record, ", "In {place}, ", "According to {person}, ", "Over the past {few} months, ",
           "When I first tried it, ", "By the end of {month}, ", "{connect} ", "Since {year}, ", "Back in {month}, ", "On a rainy {weekday}, "]
EN_BODY = [
    "I spent {few} hours sorting out the {noun}", "the {noun} cost about ${money} in total", "{person} suggested a different approach to the {noun}",
    "the {noun} turned out to be {adj} than I expected", "we compared {few} options for the {noun}", "the council set aside ${money} for the {noun}",
    "nobody on the street had tried a {noun} before", "my {relative} kept asking about the {noun}", "the {noun} and the {noun2} ended up competing for the same weekend",
    "a neighbour lent me an old {noun}", "the {noun} needed {few} small fixes before it worked", "{num} people turned up to talk about the {noun}",
    "I finally wrote down everything I know about the {noun}", "the {noun} made the {noun2} much easier", "the price of the {noun} went up by {pct}",
    "{person} from {place} sent a long email about the {noun}", "the {noun} has been on my list since {year}",
]
EN_CLOSE = [
    "and that changed how I plan the week", "which I did not see coming", "so I will report back next month", "and the results were mixed",
    "but it was worth the effort", "which is roughly what the manual promised", "and I would do it again", "though your mileage may vary",
    "and {person} agreed", "so keep that in mind", "which surprised everyone at the meeting", "and the {noun2} is next",
]
EN_CONNECT = words("Also, Meanwhile, Still, However, Then, Eventually, Admittedly, Luckily, Unfortunately, Interestingly, Later, Anyway,")
EN_ADJ = words("cheaper slower sturdier messier quieter simpler heavier faster trickier friendlier louder easier")
EN_RELATIVES = words("sister brother partner dad mum grandmother uncle flatmate neighbour cousin")
EN_WEEKDAYS = words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
EN_MONTHS = words("January February March April May June July August September October November December")
EN_QUOTES = ['"{quote}," {person} told me.', '{person} put it simply: "{quote}."', 'As {person} said afterwards, "{quote}."']
EN_QUOTE_BODY = ["we should have started with the {noun}", "the {noun} is the easy part", "nobody reads the instructions for a {noun}",
                 "give the {noun} another month", "the {noun} paid for itself by {month}", "I would not change a thing about the {noun}"]
EN_TITLES = ["What I learned from the {noun}", "Notes on the {noun}", "A month with the {noun}", "Why the {noun} matters in {place}",
             "The {noun}, revisited", "Fixing the {noun} on a budget", "{place} and the {noun}", "Small lessons from a {noun}"]

EN_SPAM_LINES = ["### BEST ONLINE CASINO ### Get ${money} bonus NOW!!!", "【HOT】 Cheap followers and likes - contact WhatsApp {phone}",
                 "### Buy backlinks ### Rank #1 on Google in {few} days ###", "Click here >>> www.{domain}.com <<< FREE SPINS",
                 "【WIN BIG】 Jackpot slots, instant withdrawal ### sign up today", "Earn ${money} per day from home!!! Telegram @{wx}",
                 "### Replica watches ### lowest price guaranteed ### email sales@{domain}.com"]
EN_PRODUCTS = ["air fryer", "robot vacuum", "electric toothbrush", "pair of wireless earbuds", "travel mug", "down jacket", "pair of running shoes",
               "face cream", "bag of cat food", "suitcase", "desk lamp", "blender", "heated blanket", "backpack", "tea set", "massage chair"]
EN_PROMO_SENTENCES = [
    "Our new {noun} is finally in stock, and this week it costs only ${money} with free shipping.",
    "Hurry, there are only a few left, so order yours before the weekend!", "Buy two today and the third one is on us, but the offer ends on {weekday}.",
    "Every {noun} ships straight from the factory, so you never pay a middleman.",
    "Not happy with it? Send it back within thirty days and we will refund every cent.", "More than {num} customers have already given it five stars.",
    "Sign up for our newsletter and get a ${money} coupon for your first order.", "Customers in {place} usually receive their parcel the very next day.",
    "This is the best-selling {noun} of the year, and once you try it you will never go back.",
    "Our friendly team is online around the clock to answer your questions.", "Stock is limited, so grab this deal while it lasts!",
    "Loyal customers get a free gift with every repeat order.", "Join our live stream tonight at eight for the lowest price anywhere.",
    "Click the button below to order now and enter our prize draw.", "Made from premium materials, the {noun} looks great in any home.",
    "Order today and we will add {few} free accessories to your box.",
]
EN_PROMO_TITLES = ["The {noun}: limited offer, free shipping", "Buy two, get one free: the {noun}", "Best-selling {noun}, now ${money}"]
EN_NAV = ["Home | About | Blog | Contact", "Read more", "Share this: Facebook Twitter Email", "Related posts", "Load more", "Privacy Policy | Terms of Use",
          "Copyright © {year} {place} Media. All rights reserved.", "Subscribe to our newsletter", "Previous post: {title}", "Next post: {title}",
          "Skip to content", "Search this site", "Categories: Uncategorized", "Leave a comment", "Cookie settings | Accept all"]
EN_STUFF_KEYWORDS = ["cheap flights", "weight loss pills", "car insurance", "payday loans", "plumber near me", "essay writing service", "best vpn"]
EN_STUFF_PATTERNS = ["{kw}", "best {kw}", "cheap {kw}", "{kw} {place}", "{kw} reviews", "{kw} online", "top {kw} deals", "{kw} today"]
EN_SHORT = ["Coming soon.", "404 Not Found", "Thanks!", "Nice post", "Page under construction", "No content", "First!", "Untitled"]

# ---------------------------------------------------------------- free clauses (subject, verb, object, adjunct)
# Open-class words in quantity keep long documents from converging on the same character n-grams.
# (verbs, things) groups keep a free clause sensible: one paints a fence, one does not pickle it.
EN_DEEDS = [
    (words("repaired painted sanded varnished mended moved assembled rebuilt measured borrowed"),
     words("shelf cupboard bench fence gate ladder shed drawer wardrobe doorframe porch-swing bookcase garden-chair toolbox")),
    (words("printed scanned catalogued archived labelled translated posted sorted transcribed"),
     words("letter notebook ledger map diary postcard photograph recipe-card parish-record school-report newsletter")),
    (words("baked pickled roasted boiled chopped smoked stored jarred"),
     words("loaf chutney beetroot plum marmalade stew pumpkin onion apricot rhubarb pie")),
    (words("tuned played recorded rehearsed restored polished"),
     words("violin cello piano drum accordion trumpet mandolin harmonium")),
    (words("serviced repaired washed rented insured registered inspected"),
     words("bicycle scooter trailer caravan tandem cargo-bike motorbike camper-van")),
    (words("planted pruned watered weeded fenced mulched surveyed mapped"),
     words("hedge orchard meadow verge allotment flowerbed copse vegetable-patch")),
    (words("cleaned rewired insulated drained inspected repainted"),
     words("attic cellar stairwell hallway gutter chimney boiler-room pantry")),
]
EN_ADJS = words("old new rusty shiny wobbly sturdy second-hand hand-made borrowed enormous tiny narrow wide crooked faded bright dusty muddy soggy dry warm chilly noisy silent cheap pricey fragile heavy light clumsy elegant plain ornate scratched polished dented cracked patched spare mysterious forgotten familiar stubborn reliable temperamental")
EN_LANDMARKS = words("post-office bakery church library bus-stop roundabout canal-lock village-green school-gate allotments market-square railway-bridge corner-shop swimming-pool town-clock old-mill fire-station car-park riverbank playground")
EN_ADJUNCTS = ["before breakfast", "after the storm", "near the {landmark}", "with a borrowed {enoun}", "on {weekday} morning", "in under {few} hours",
               "behind the {landmark}", "at the {landmark} in {place}", "during the school holidays", "in the pouring rain", "by torchlight",
               "with help from {person}", "for almost no money", "late on {weekday} evening", "across the road from the {landmark}"]
EN_SUBJECTS = ["{person}", "my {relative}", "we", "I", "{person}'s {relative}", "the woman from the {landmark}", "a man in {place}", "the volunteers at the {landmark}"]
EN_FREE = ["{subj} {verb} the {eadj} {enoun} {adjunct}", "{subj} {verb} another {eadj} {enoun} {adjunct}", "{subj} {verb} the {eadj} {enoun} {few} times",
           "{subj} {verb} the {enoun} and {verb2} the {eadj} {enoun2}", "{subj} {verb} the old {enoun} {adjunct}", "nobody {verb} the {eadj} {enoun} until {subj} did"]

ZH_DEEDS = [
    (words("修缮了 加固了 粉刷了 翻新了 检修了 测量了 清扫了"), words("老式木门 石板路 围墙 凉亭 戏台 牌坊 木楼梯 窗棂 铁皮屋顶 报刊亭 旧厂房 宣传栏 桥栏杆")),
    (words("整理了 登记了 收集了 捐赠了 搬运了 擦拭了 归档了 盘点了"), words("旧书 档案柜 老照片 算盘 收音机 缝纫机 织布机 陶罐 竹篮 秤杆 家谱 票证 药柜")),
    (words("栽种了 修剪了 补种了 浇灌了 嫁接了 采摘了"), words("果树苗 茶树 竹林 桑田 苗圃 月季 桂花树 银杏 葡萄藤 菜地")),
    (words("疏通了 清理了 加固了 巡查了 维护了"), words("水渠 鱼塘 井盖 排水沟 河堤 抽水泵 蓄水池 涵洞")),
    (words("调试了 检修了 更换了 保养了 试用了 安装了"), words("路灯 监控探头 充电桩 自行车 三轮车 拖拉机 播种机 太阳能板 电动门")),
    (words("搭建了 布置了 打扫了 装饰了 粉刷了"), words("阅览室 晒谷场 活动室 老年食堂 花坛 宣传墙 篮球场 小舞台")),
]
ZH_THING_ADJ = words("破旧的 崭新的 结实的 松动的 锈迹斑斑的 刚修好的 借来的 手工的 闲置多年的 褪色的 翻新过的 摇晃的 潮湿的 干燥的 沉甸甸的 小小的 宽敞的 狭窄的 老旧的 精致的")
ZH_WHEN = ["清晨", "傍晚", "雨后", "周末", "午饭后", "农闲时", "开学前", "入冬前", "节前", "连夜", "趁着晴天", "天刚亮"]
ZH_FREE = ["{subj}{when}{zverb}{zadj}{thing}", "{subj}在{district}{zverb}{few}处{thing}", "{subj}和{subj2}一起{zverb}{zadj}{thing}",
           "{subj}{when}把{zadj}{thing}{zverb}一遍", "{thing}被{subj}{zverb}", "{subj}先{zverb}{thing}，又{zverb2}{thing2}"]
ZH_SUBJECTS = ["{person}", "{person}和同事", "{group}", "村里的{group}", "{org}的工作人员", "几位{group}", "{person}一家"]
EN_ADJUNCTS += ["without asking anyone", "on the second attempt", "while the kettle boiled", "as the light faded", "between two showers",
                "under a grey sky", "despite the forecast", "around lunchtime", "on a whim", "just before closing time", "in {month}",
                "outside {person}'s house", "two streets from the {landmark}", "with cold fingers", "while the radio played",
                "to everyone's surprise", "in record time", "after a long argument", "on the way home from {place}", "by {weekday} night"]
EN_OPEN += ["Yesterday, ", "In the end, ", "At first, ", "By {weekday}, ", "Somewhere near {place}, ", "Two days later, ", "That {month}, ",
            "Oddly enough, ", "Not long after, ", "Around {year}, ", "Out of curiosity, ", "With {few} days to spare, "]
EN_SUBJECTS += ["our {landmark} committee", "{few} of us", "the couple next door", "an old friend from {place}", "{person} and {person}",
                "the new owner of the {landmark}", "my {relative} and I", "a student from {place}"]
EN_DEEDS += [
    (words("knitted sewed patched hemmed dyed washed ironed folded"),
     words("scarf quilt blanket curtain apron cardigan tablecloth cushion-cover pillowcase")),
    (words("photographed sketched filmed framed hung"),
     words("lighthouse harbour-wall swing-bridge bandstand clock-tower signal-box windmill water-tower")),
    (words("delivered collected donated auctioned traded priced"),
     words("parcel hamper raffle-prize crate-of-apples box-of-books bundle-of-firewood tray-of-seedlings")),
]
EN_ADJS += words("lopsided gleaming creaky peeling chipped sun-bleached rain-soaked half-finished brand-new battered trusty unloved oversized undersized")
EN_LANDMARKS += words("cricket-pavilion boathouse tithe-barn bowling-green chip-shop laundrette newsagent level-crossing war-memorial duck-pond")
EN_SUBJECTS += ["the caretaker", "our landlord", "the twins from number {few}", "a retired teacher", "the whole street", "{person}, who runs the {landmark},"]
