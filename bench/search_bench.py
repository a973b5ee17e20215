"""Time the Chinese full-text search (index/search.py) on N generated articles: build, size, query latency.

    python bench/search_bench.py [--count 1000000] [--runs 200] [--writer-memory BYTES] [--dir DIR] [--keep]

The articles (~1,200 characters each, 8 outlets, dates over 5 years, a tenth or so in traditional
characters) are generated in memory from a fixed seed and fed as SearchDoc objects straight to
SearchIndex.add: no article file is written, the engine alone is measured. The text follows a Zipf law
over real news words (function words, places, people, 王毅, 台湾, 一带一路, 疫情 ...) with a long tail of
rarer character pairs, English words, numbers and the punctuation ，。、「」; each article has one to
three topics whose names and phrases it mentions several times, as news does.

Prints the text and index sizes, the build rate (tokenising included) and, for each kind of query and
both orders, the median and 95th percentile latency of SearchIndex.search(limit=20) over --runs runs
that cycle through a list of terms of that kind (after one untimed pass over every query). The index
is made in a temporary folder (inside --dir if given) and deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import CHARS, settle

from newsarchive.index.search import SearchDoc, SearchIndex, query_terms, runs

# Targets of the issue, at 1,000,000 articles.
TARGET_P95_MS = 20.0
TARGET_RATIO = 1.5
TARGET_RATE = 1000.0

# Outlets: (slug, share of the articles, share of those in traditional characters).
OUTLETS = [
    ("rfi", 0.18, 0.05),
    ("rfa", 0.16, 0.30),
    ("voa", 0.15, 0.25),
    ("bbc", 0.14, 0.05),
    ("dw", 0.12, 0.05),
    ("nytimes", 0.11, 0.15),
    ("cdt", 0.08, 0.0),
    ("ft", 0.06, 0.0),
]
START = datetime(2019, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # midnight in Beijing
YEARS = 5
SPAN_MS = (datetime(2019 + YEARS, 1, 1, tzinfo=UTC) - timedelta(hours=8) - START) // timedelta(milliseconds=1)
START_MS = int(START.timestamp() * 1000)

# Real words of news text, roughly from the most to the least frequent: the first ranks of the Zipf law.
COMMON = """
的 是 在 了 和 也 有 对 与 将 就 都 而 及 被 从 但 并 为 等 中 上 说 不 这 他 她 其 已 我们 他们 一个 没有 表示 指出 认为
可以 已经 目前 今年 去年 此前 以及 因为 所以 如果 虽然 但是 然而 其中 包括 进行 通过 成为 发生 出现 继续 要求 希望 相关 问题
政府 国家 中国 美国 北京 官员 当局 消息 报道 记者 媒体 方面 情况 时间 地区 社会 经济 政治 国际 公司 企业 市场 发展
人民 领导人 总统 总理 部长 主席 外交部 国务院 中共 共产党 政策 法律 安全 问题 关系 合作 会议 声明 报告 调查 数据 影响 措施 计划
医院 患者 死亡 确诊 隔离 检测 广东 深圳 西藏 内蒙古 四川 日本 韩国 朝鲜 俄罗斯 乌克兰 欧洲
英国 法国 德国 欧盟 联合国 世界卫生组织 军队 解放军 军事 导弹 战争 和平 抗议 示威 警方 逮捕 法院 判决 律师 人权 自由 民主 选举
投票 议员 国会 白宫 贸易 关税 出口 进口 科技 互联网 网络 审查 微博 微信 学生 大学
教育 工人 农民 城市 农村 房地产 银行 股市 人民币 美元 增长 下降 上升 预计 分析 专家 学者 研究 机构 组织 中心 委员会 代表 成员 国内
海外 全球 世界 亚洲 非洲 南海 东海 边境 基础设施 投资 债务 贷款 能源 石油 天然气 气候 环境 污染 台风 暴雨 洪水 地震 救援
家庭 儿童 妇女 老人 年轻人 网民 视频 照片 社交媒体 言论 批评 支持 反对 谴责 呼吁 强调 承诺 否认 证实 透露 宣布 决定 实施 推动 加强
""".split()  # noqa: SIM905 - a list literal of 250 words would be unreadable

# Names at chosen ranks of the law (their topics add more mentions): from a fifth of the articles to a few in a hundred.
NAMES = {"台湾": 800, "香港": 900, "疫情": 1000, "上海": 1200, "习近平": 1500, "病毒": 1700, "特朗普": 1800, "拜登": 2000,
         "新疆": 2200, "疫苗": 2400, "新冠": 2500, "武汉": 2600, "普京": 3000, "芯片": 3200, "华为": 3500, "李克强": 4000,
         "王毅": 6000, "一带一路": 15000}  # fmt: skip
ENGLISH = [" Joe Biden ", " Donald Trump ", " COVID-19 ", " NATO ", " TikTok ", " iPhone ", " AI ", " GDP ", " 5G ", " Twitter ",
           " Facebook ", " YouTube ", " Reuters ", " AP ", " BBC ", " CNN ", " New York Times ", " Xi Jinping ", " Taiwan ", " Hong Kong ",
           " WHO ", " Apple ", " Tesla ", " Google ", " WTO ", " G20 ", " APEC ", " OpenAI ", " ChatGPT ", " Nvidia "]  # fmt: skip
NUMBERS = [f"{y}年" for y in range(2010, 2025)] + [f"{m}月" for m in range(1, 13)] + [f"{d}日" for d in range(1, 32)]
NUMBERS += ["10%", "3.5%", "100万", "1.2亿", "50", "2000", "300多", "第一", "第二", "数千", "数百", "两名", "三名", "十多年"]
PUNCTUATION = [("，", 0.085), ("。", 0.03), ("、", 0.012), ("。\n", 0.012)]  # share of all tokens

# Topics: an article has one to three, and mentions their words (the first ones most) several times.
TOPICS = [
    "疫情 新冠 新冠肺炎疫情 病毒 疫苗 核酸检测 封控 动态清零 动态清零政策 确诊病例 隔离 口罩",
    "台湾 台湾海峡 蔡英文 赖清德 民进党 国民党 两岸关系 解放军 军事演习 台湾海峡局势 立法院 统一",
    "拜登 特朗普 白宫 美国国务卿 布林肯 国会 参议院 众议院 选举 民主党 共和党",
    "习近平 中国国家主席 中共中央 总书记 二十大 政治局 常委 权力 连任",
    "香港 香港国安法 林郑月娥 李家超 立法会 示威 民主派 警方 逮捕 保释 苹果日报",
    "俄罗斯 乌克兰 普京 泽连斯基 北约 战争 入侵 基辅 莫斯科 停火 难民",
    "经济 经济增长 国内生产总值 房地产 恒大 债务危机 股市 人民币 通货膨胀 失业率 央行",
    "贸易 关税 中美贸易战 出口 进口 芯片 华为 半导体 制裁 供应链 人工智能",
    "新疆 维吾尔族 人权 强迫劳动 再教育营 制裁 棉花 种族灭绝 乌鲁木齐",
    "上海 北京 武汉 深圳 广州 封城 居民 抗议 白纸运动 物资",
    "王毅 外交部 外交部发言人 汪文斌 赵立坚 会谈 双边关系 外长 访问 联合声明 大使",
    "网络 审查 言论自由 社交媒体 微博 微信 防火长城 网民 删除 账号",
    "法院 判决 律师 维权 人权律师 起诉 审判 有期徒刑 颠覆国家政权",
    "日本 韩国 朝鲜 导弹 核试验 东海 南海 菲律宾 航母 钓鱼岛",
    "一带一路 基础设施 债务 投资 非洲 巴基斯坦 港口 铁路 贷款 合作倡议 斯里兰卡",
    "台风 暴雨 洪水 地震 气候变化 救援 死亡 失踪 灾民",
    "欧盟 德国 法国 英国 马克龙 朔尔茨 布鲁塞尔 峰会 投资协定",
    "教育 大学 学生 留学生 高考 教师 科研 毕业生 就业",
]

# Query terms of each kind, cycled through over the timed runs.
ONE_CHAR = ["疫", "港", "军", "税", "债", "雨", "警", "判", "鱼", "油", "贷", "震", "龙", "岛", "的", "美", "毅", "棉", "灾", "航"]
TWO_CHAR = ["王毅", "台湾", "疫情", "香港", "美国", "拜登", "新疆", "华为", "芯片", "选举", "关税", "普京", "北约", "病毒", "台风", "股市"]
FOUR_CHAR = ["一带一路", "人工智能", "军事演习", "动态清零", "台湾海峡", "经济增长", "言论自由", "社交媒体", "强迫劳动", "双边关系",
             "基础设施", "两岸关系", "债务危机", "核酸检测", "气候变化", "有期徒刑"]  # fmt: skip
MULTI = ["王毅 台湾", "疫情 上海", "拜登 芯片", "香港 选举", "习近平 普京", "新疆 人权", "华为 制裁", "乌克兰 难民", "台风 救援",
         "律师 判决", "日本 导弹", "欧盟 投资", "学生 就业", "股市 央行", "疫苗 死亡", "TikTok 审查"]  # fmt: skip
PHRASE = ['"外交部发言人"', '"新冠肺炎疫情"', '"中国国家主席"', '"动态清零政策"', '"台湾海峡局势"', '"颠覆国家政权"', '"国内生产总值"',
          '"香港国安法"', '"美国国务卿"', '"中美贸易战"', '"joe biden"', '"new york times"']  # fmt: skip
FILTERED = TWO_CHAR  # each with one outlet and a one-year range of dates


@dataclass(frozen=True)
class Lexicon:
    tokens: list[str]  # words, English, numbers and punctuation
    cum: list[float]
    words: list[str]  # words alone, for titles
    word_cum: list[float]
    topics: list[list[str]]


def zipf(count: int, offset: float = 2.7, power: float = 1.0) -> list[float]:
    return [1 / (rank + offset) ** power for rank in range(count)]


def lexicons(seed: int) -> list[Lexicon]:
    """The simplified lexicon, then two traditional ones (臺灣 and 台灣, as outlets write it)."""
    import opencc

    rng = random.Random(seed)
    seen = set(COMMON)
    tail: list[str] = []
    while len(tail) < 30_000:  # rarer words: pairs and triples of common characters
        word = "".join(rng.choices(CHARS, k=rng.choice((2, 2, 2, 3))))
        if word not in seen:
            seen.add(word)
            tail.append(word)
    words = list(dict.fromkeys(COMMON)) + tail
    # Names, English and numbers spread over the law's ranks, so that each has a frequency of its own.
    for extra in ENGLISH + NUMBERS:
        words.insert(rng.randrange(100, 5000), extra)
    for name, rank in sorted(NAMES.items(), key=lambda item: item[1]):
        words.insert(rank, name)
    word_weights = zipf(len(words))
    share = 1 - sum(p for _, p in PUNCTUATION)
    total = sum(word_weights)
    weights = [w * share / total for w in word_weights] + [p for _, p in PUNCTUATION]
    tokens = words + [mark for mark, _ in PUNCTUATION]
    topics = [topic.split() for topic in TOPICS]
    out = [Lexicon(tokens, list(itertools.accumulate(weights)), words, list(itertools.accumulate(word_weights)), topics)]
    to_traditional = opencc.OpenCC("s2t")
    for variant in ("臺", "台"):

        def convert(word: str, variant: str = variant) -> str:
            return str(to_traditional.convert(word)).replace("臺", variant)

        trad_words = [convert(w) for w in words]
        out.append(
            Lexicon(
                trad_words + [mark for mark, _ in PUNCTUATION],
                out[0].cum,
                trad_words,
                out[0].word_cum,
                [[convert(w) for w in topic] for topic in topics],
            )
        )
    return out


def articles(count: int, seed: int, characters: tuple[int, int] = (700, 1700)) -> Iterator[SearchDoc]:
    """``count`` articles, oldest first, each the same for the same seed, of ``characters`` (least, most) long."""
    rng = random.Random(seed)
    lexes = lexicons(seed)
    outlet_cum = list(itertools.accumulate(share for _, share, _ in OUTLETS))
    topic_cum = list(itertools.accumulate(zipf(len(TOPICS), offset=3.0, power=1.2)))
    topic_word_cum = [list(itertools.accumulate(zipf(len(t), offset=0.5, power=1.3))) for t in lexes[0].topics]
    next_id = dict.fromkeys((slug for slug, _, _ in OUTLETS), 1048575)
    average = sum(len(t) * (b - a) for t, a, b in zip(lexes[0].tokens, [0.0, *lexes[0].cum], lexes[0].cum, strict=False)) / lexes[0].cum[-1]
    for n in range(count):
        slug, _, traditional = OUTLETS[rng.choices(range(len(OUTLETS)), cum_weights=outlet_cum)[0]]
        lex = lexes[0] if rng.random() >= traditional else lexes[1 + (n & 1)]
        size = int(rng.randint(*characters) / average)
        tokens = rng.choices(lex.tokens, cum_weights=lex.cum, k=size)
        title = rng.choices(lex.words, cum_weights=lex.word_cum, k=rng.randint(3, 6))
        for topic in rng.choices(range(len(TOPICS)), cum_weights=topic_cum, k=rng.choice((0, 1, 1, 1, 2, 2, 3))):
            mentions = rng.choices(lex.topics[topic], cum_weights=topic_word_cum[topic], k=rng.randint(1, 10))
            for word in mentions:
                tokens[rng.randrange(size)] = f"「{word}」" if rng.random() < 0.1 else word
            title.insert(rng.randrange(len(title)), mentions[0])
        pub_ms = START_MS + (n * SPAN_MS + rng.randrange(SPAN_MS)) // count
        next_id[slug] -= 1
        yield SearchDoc(
            path=f"articles/{slug}/{next_id[slug] + 1}.md", source=slug, title="".join(title), pub_ms=pub_ms, text="".join(tokens) + "。"
        )


def disk_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def matching(index: SearchIndex, query: str, **filters: Any) -> int:
    """How many documents match (all of them, not the first 20): the query SearchIndex.search builds."""
    import tantivy

    schema = index.schema
    clauses = []
    for term in query_terms(query):
        for run in runs(term):
            pairs: list[Any] = [a + "_" + b for a, b in itertools.pairwise(run)]
            if not pairs:
                clauses.append(tantivy.Query.term_query(schema, "uni", run[0]))
            elif len(pairs) == 1:
                clauses.append(tantivy.Query.term_query(schema, "bi", pairs[0]))
            else:
                clauses.append(tantivy.Query.phrase_query(schema, "bi", pairs))
    if filters.get("source"):
        clauses.append(tantivy.Query.term_query(schema, "source", filters["source"]))
    if filters.get("since_ms") is not None or filters.get("until_ms") is not None:
        clauses.append(
            tantivy.Query.range_query(schema, "pub_ms", tantivy.FieldType.Integer, filters.get("since_ms"), filters.get("until_ms"))
        )
    query_object = tantivy.Query.boolean_query([(tantivy.Occur.Must, clause) for clause in clauses])
    result: Any = index.index.searcher().search(query_object, 1)
    return int(result.count)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="articles to index")
    parser.add_argument("--runs", type=int, default=200, help="timed searches per kind of query and order")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2000, help="articles per SearchIndex.add call (as Archive.sync_search)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--writer-memory", type=int, default=2_000_000_000, help="bytes the index writer may hold (newsarchive itself uses 300 MB)"
    )
    parser.add_argument("--settle", type=float, default=10, help="seconds to let the disk go quiet before the timed build")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary index folder is made (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the index folder (its path is printed)")
    parser.add_argument("--index", type=Path, default=None, help="only search an index kept before with --keep (same --seed): no build")
    options = parser.parse_args()
    if options.index:
        index = SearchIndex(options.index)
        print(f"{index.index.searcher().num_docs:,} articles in {options.index}, {disk_bytes(options.index) / 1e6:,.1f} MB on disk")
        print_queries(index, options)
        return

    started = time.perf_counter()
    docs = list(articles(options.count, options.seed))
    generated = time.perf_counter() - started
    gc.freeze()  # a real build holds one batch, not a million articles: keep the collector from walking them over and over
    text_bytes = sum(len(doc.title.encode()) + 1 + len(doc.text.encode()) for doc in docs)
    characters = sum(len(doc.title) + 1 + len(doc.text) for doc in docs)
    print(
        f"{len(docs):,} articles, {characters / len(docs):,.0f} characters and {text_bytes / len(docs):,.0f} bytes each on average, "
        f"{text_bytes / 1e6:,.1f} MB of text (UTF-8), generated in {generated:.1f} s",
        flush=True,
    )

    if options.dir:
        options.dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="search-bench-", dir=options.dir))
    try:
        index = SearchIndex(folder, writer_memory=options.writer_memory)
        settle(options.settle)
        load = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
        added = 0
        progress = max(options.batch, options.count // 10 // options.batch * options.batch)
        for start in range(0, len(docs), options.batch):
            added += index.add(docs[start : start + options.batch])
            if added % progress == 0 and added < len(docs):
                elapsed = time.perf_counter() - started
                print(f"  {added:,} added in {elapsed:,.0f} s ({added / elapsed:,.0f}/s)", file=sys.stderr, flush=True)
        adding = time.perf_counter() - started
        index.commit()
        build = time.perf_counter() - started
        cpu = time.process_time() - cpu
        assert added == len(docs)
        size = disk_bytes(folder)
        del docs  # the generated text is no longer needed: give its memory back before the queries
        searcher = index.index.searcher()
        print(
            f"build {build:,.1f} s (adding {adding:,.1f} s, commit and merges {build - adding:,.1f} s), {cpu:,.1f} s of CPU; "
            f"{searcher.num_docs:,} documents in {searcher.num_segments} segment(s); load average {load:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after (other processes on the machine slow the build down)",
            flush=True,
        )

        rate = added / build
        ratio = size / text_bytes

        print()
        print(f"| {options.count:,} articles | value | target |")
        print("| --- | ---: | ---: |")
        print(f"| text (UTF-8) | {text_bytes / 1e6:,.1f} MB | |")
        print(f"| index on disk | {size / 1e6:,.1f} MB | |")
        print(f"| index / text | {ratio:.2f}x | ≤ {TARGET_RATIO}x {mark(ratio <= TARGET_RATIO)} |")
        print(f"| build (tokenising included) | {build:,.1f} s | |")
        print(f"| build rate | {rate:,.0f} articles/s | ≥ {TARGET_RATE:,.0f}/s {mark(rate >= TARGET_RATE)} |")
        print(f"| build CPU (all threads) | {cpu:,.1f} s, {cpu / added * 1e6:,.0f} µs per article | |")
        print()
        print_queries(index, options)
    finally:
        if options.keep:
            print(f"index kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def print_queries(index: SearchIndex, options: argparse.Namespace) -> None:
    """Time every kind of query in both orders and print the table; exit 1 when 台湾 and 台灣 differ."""
    rng = random.Random(options.seed)
    rows: list[tuple[str, str, list[float], float, int]] = []
    kinds: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = [
        ("1 character", [(q, {}) for q in ONE_CHAR]),
        ("2 characters", [(q, {}) for q in TWO_CHAR]),
        ("4 characters", [(q, {}) for q in FOUR_CHAR]),
        ("2 terms, both", [(q, {}) for q in MULTI]),
        ("phrase, ~6 characters", [(q, {}) for q in PHRASE]),
        ("2 characters, outlet + 1 year", [(q, filtered(rng)) for q in FILTERED]),
    ]
    for name, queries in kinds:
        for query, filters in queries:  # one untimed pass: every term's postings read once
            index.search(query, limit=options.limit, **filters)
            index.search(query, limit=options.limit, sort="date", **filters)
        median_matches = int(statistics.median(matching(index, query, **filters) for query, filters in queries))
        for sort in ("relevance", "date"):
            times: list[float] = []
            returned = 0
            for query, filters in itertools.islice(itertools.cycle(queries), options.runs):
                begin = time.perf_counter()
                hits = index.search(query, limit=options.limit, sort=sort, **filters)
                times.append((time.perf_counter() - begin) * 1000)
                returned += len(hits)
            rows.append((name, sort, times, returned / options.runs, median_matches))

    counts = {name: matching(index, name) for name in ("台湾", "台灣", "臺灣")}
    same = len(set(counts.values())) == 1
    lists = {tuple(hit.path for hit in index.search(name, limit=options.limit, sort="date")) for name in counts}
    print(f"| query (limit {options.limit}, {options.runs} runs) | order | p50 ms | p95 ms | max ms | hits | matching docs (median) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    worst = 0.0
    for name, sort, latencies, mean_hits, matches in rows:
        p95 = percentile(latencies, 0.95)
        worst = max(worst, p95)
        p50 = statistics.median(latencies)
        print(f"| {name} | {sort} | {p50:.2f} | {p95:.2f} | {max(latencies):.2f} | {mean_hits:.1f} | {matches:,} |")
    print()
    print(f"worst p95: {worst:.2f} ms (target < {TARGET_P95_MS:.0f} ms) {mark(worst < TARGET_P95_MS)}")
    print(
        "台湾 / 台灣 / 臺灣: " + " / ".join(f"{c:,}" for c in counts.values()) + " matching docs, "
        f"{'equal' if same else 'DIFFERENT'}; first {options.limit} by date {'identical' if len(lists) == 1 else 'DIFFERENT'}"
    )
    if not same or len(lists) != 1:
        sys.exit(1)


def filtered(rng: random.Random) -> dict[str, Any]:
    """One outlet and one year of dates, somewhere in the five."""
    since = START_MS + rng.randrange(SPAN_MS - SPAN_MS // YEARS)
    return {"source": rng.choice(OUTLETS)[0], "since_ms": since, "until_ms": since + SPAN_MS // YEARS}


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


if __name__ == "__main__":
    main()
