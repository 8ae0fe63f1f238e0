"""Catalog search on 100,000 entries: fill a database through the register, then time searches.

    .venv/bin/python bench/catalog_search.py                       # a temp SQLite file
    .venv/bin/python bench/catalog_search.py --pg                  # a throwaway PostgreSQL (tests/pg.py)
    .venv/bin/python bench/catalog_search.py --database-url postgresql+psycopg://…/db
    .venv/bin/python bench/catalog_search.py --entries 20000 --queries 500

The entries are realistic catalog rows: a Chinese name made of a subject and a suffix from a
department's vocabulary (人口基础信息, 企业登记信息, 不动产登记证明 …), an English name, a one-sentence
description, a classification, every share type, kind, update period and sharing mode. They are
published through ``govshare.core.catalog.publish`` (the code an import runs: versions and search
terms), 1,000 per transaction; the fill time is reported. Then ANALYZE, and N searches of a mix —
2-character, 4-character, English (whole words and prefixes), each of these filtered by
department, and a page deep into a common term — each in its own session, as the API runs them
(``GET /resources?q=…``). Reported: p50/p95/p99/max per kind and overall, the mean number of
matches. Target (issue 19): p99 ≤ 50 ms on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sqlalchemy import text
from sqlmodel import Session

from govshare.core import catalog
from govshare.core.db import init_schema, make_engine
from govshare.core.models import Department

# (code, 中文名, English) — departments of a prefecture-level city.
DEPARTMENTS = [
    ("gaj", "市公安局", "Public Security"),
    ("scjgj", "市市场监督管理局", "Market Supervision"),
    ("rsj", "市人力资源和社会保障局", "Human Resources and Social Security"),
    ("mzj", "市民政局", "Civil Affairs"),
    ("zrzyj", "市自然资源和规划局", "Natural Resources and Planning"),
    ("zjj", "市住房和城乡建设局", "Housing and Urban-Rural Development"),
    ("jtj", "市交通运输局", "Transport"),
    ("wjw", "市卫生健康委员会", "Health Commission"),
    ("ybj", "市医疗保障局", "Healthcare Security"),
    ("jyj", "市教育局", "Education"),
    ("swj", "市税务局", "Taxation"),
    ("czj", "市财政局", "Finance"),
    ("tjj", "市统计局", "Statistics"),
    ("sthjj", "市生态环境局", "Ecology and Environment"),
    ("slj", "市水利局", "Water Resources"),
    ("nyj", "市农业农村局", "Agriculture and Rural Affairs"),
    ("lyj", "市林业局", "Forestry"),
    ("whlyj", "市文化广电旅游局", "Culture and Tourism"),
    ("tyj", "市体育局", "Sports"),
    ("kjj", "市科学技术局", "Science and Technology"),
    ("sfj", "市司法局", "Justice"),
    ("gjj", "市住房公积金管理中心", "Housing Provident Fund"),
    ("yjj", "市应急管理局", "Emergency Management"),
    ("tyjrj", "市退役军人事务局", "Veterans Affairs"),
    ("cljj", "市残疾人联合会", "Disabled Persons' Federation"),
    ("qxj", "市气象局", "Meteorology"),
    ("fgw", "市发展和改革委员会", "Development and Reform"),
    ("sjj", "市审计局", "Audit"),
    ("jxj", "市经济和信息化局", "Economy and Information Technology"),
    ("swgj", "市商务局", "Commerce"),
    ("zwfw", "市政务服务和大数据管理局", "Government Services and Big Data"),
    ("xfj", "市信访局", "Letters and Visits"),
    ("mzzj", "市民族宗教事务局", "Ethnic and Religious Affairs"),
    ("rfb", "市人民防空办公室", "Civil Air Defence"),
    ("dag", "市档案馆", "Archives"),
    ("ggzy", "市公共资源交易中心", "Public Resources Trading"),
    ("yc", "市烟草专卖局", "Tobacco Monopoly"),
    ("yzj", "市邮政管理局", "Postal Administration"),
    ("hgj", "海关", "Customs"),
    ("rmyh", "人民银行市中心支行", "People's Bank branch"),
]
# (subject 中文, English, basic?) — what an entry is about.
SUBJECTS = [
    ("人口", "population", True),
    ("户籍", "household registration", False),
    ("居民身份证", "resident identity card", True),
    ("流动人口", "migrant population", False),
    ("企业", "enterprise", True),
    ("法人单位", "legal entity", True),
    ("个体工商户", "individual business", False),
    ("社会组织", "social organization", False),
    ("事业单位", "public institution", False),
    ("不动产", "real estate", False),
    ("土地", "land", False),
    ("国土空间规划", "territorial spatial planning", False),
    ("地理空间", "geospatial", True),
    ("建设工程", "construction project", False),
    ("商品房", "commercial housing", False),
    ("住房租赁", "housing rental", False),
    ("公积金", "provident fund", False),
    ("社会保险", "social insurance", False),
    ("养老保险", "pension insurance", False),
    ("医疗保险", "medical insurance", False),
    ("失业保险", "unemployment insurance", False),
    ("工伤保险", "work injury insurance", False),
    ("就业", "employment", False),
    ("职业资格", "professional qualification", False),
    ("婚姻", "marriage", False),
    ("出生医学证明", "birth medical certificate", False),
    ("死亡", "death", False),
    ("殡葬", "funeral", False),
    ("低保", "minimum living allowance", False),
    ("特困人员", "extremely poor persons", False),
    ("残疾人", "disabled persons", False),
    ("退役军人", "veterans", False),
    ("机动车", "motor vehicle", False),
    ("驾驶证", "driving licence", False),
    ("道路运输", "road transport", False),
    ("公交", "public transit", False),
    ("医疗机构", "medical institution", False),
    ("执业医师", "licensed physician", False),
    ("疫苗接种", "vaccination", False),
    ("药品", "drug", False),
    ("食品经营", "food business", False),
    ("学籍", "student status", False),
    ("学校", "school", False),
    ("教师资格", "teacher qualification", False),
    ("纳税", "tax payment", False),
    ("发票", "invoice", False),
    ("财政预算", "fiscal budget", False),
    ("政府采购", "government procurement", False),
    ("招标投标", "bidding", False),
    ("统计调查", "statistical survey", False),
    ("空气质量", "air quality", False),
    ("水质", "water quality", False),
    ("排污许可", "pollutant discharge permit", False),
    ("河湖", "rivers and lakes", False),
    ("农业补贴", "agricultural subsidy", False),
    ("农村土地承包", "rural land contract", False),
    ("森林资源", "forest resources", False),
    ("旅游景区", "scenic area", False),
    ("文物", "cultural relics", False),
    ("体育场馆", "sports venue", False),
    ("科技项目", "science project", False),
    ("律师", "lawyer", False),
    ("公证", "notarization", False),
    ("安全生产", "work safety", False),
    ("危险化学品", "hazardous chemicals", False),
    ("气象观测", "weather observation", False),
    ("社会信用", "social credit", True),
    ("电子证照", "electronic licence", True),
    ("行政许可", "administrative licensing", False),
    ("行政处罚", "administrative penalty", False),
    ("信访", "petition", False),
    ("档案", "archive", False),
    ("进出口", "import and export", False),
    ("外资企业", "foreign-invested enterprise", False),
    ("快递", "express delivery", False),
    ("金融机构", "financial institution", False),
]
# (suffix 中文, English)
SUFFIXES = [
    ("基础信息", "basic information"),
    ("基本信息", "basic data"),
    ("登记信息", "registration information"),
    ("登记证明", "registration certificate"),
    ("变更信息", "change records"),
    ("注销信息", "deregistration records"),
    ("许可信息", "permits"),
    ("审批结果", "approval results"),
    ("核查结果", "verification results"),
    ("统计数据", "statistics"),
    ("监测数据", "monitoring data"),
    ("台账", "ledger"),
    ("名录", "directory"),
    ("明细", "details"),
    ("年报", "annual reports"),
    ("档案", "files"),
    ("缴纳记录", "payment records"),
    ("发放信息", "disbursement records"),
    ("证明", "certificates"),
    ("评价信息", "evaluations"),
]
QUALIFIERS = ["", "", "", "市级", "区县", "年度", "历史", "电子"]
CLASSIFICATIONS = [
    "综合政务/人口信息",
    "经济建设/市场主体",
    "社会保障/就业",
    "资源环境/自然资源",
    "城乡建设/住房",
    "交通运输/道路",
    "卫生健康/医疗",
    "教育科技/教育",
    "财政税务/税收",
    "公共安全/治安",
    "农业农村/农业",
    "文化旅游/文化",
    "信用体系/信用",
]
PURPOSES = ["政务服务办理", "行政审批核验", "社会治理", "统计分析", "监管执法", "公共服务", "应急管理"]
PERIODS = ["realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "none"]
PERIOD_ZH = {
    "realtime": "实时",
    "daily": "按日",
    "weekly": "按周",
    "monthly": "按月",
    "quarterly": "按季度",
    "yearly": "按年",
    "none": "不定期",
}
MODES = ["system_docking", "front_end_processor", "online_query", "batch_download", "data_comparison"]
FIELD_NAMES = ["name", "citizen_id", "code", "address", "status", "issued_on", "amount", "phone", "remark"]


def make_entry(rng: random.Random, n: int) -> dict:
    code, dept_zh, _dept_en = DEPARTMENTS[n % len(DEPARTMENTS)]
    subject_zh, subject_en, basic = rng.choice(SUBJECTS)
    suffix_zh, suffix_en = rng.choice(SUFFIXES)
    qualifier = rng.choice(QUALIFIERS)
    name_zh = f"{qualifier}{subject_zh}{suffix_zh}"
    period = rng.choice(PERIODS)
    fields = rng.sample(FIELD_NAMES, rng.randint(3, 7))
    roll = rng.random()
    kind = "basic" if basic and roll < 0.5 else rng.choice(["thematic", "departmental", "departmental"])
    if kind == "basic":
        share_type = "unconditional"
    else:
        share_type = "unconditional" if roll < 0.6 else "conditional" if roll < 0.9 else "not_shared"
    return {
        "id": f"{code}-{n:06d}",
        "name_zh": name_zh,
        "name_en": f"{subject_en} {suffix_en}".capitalize(),
        "provider_department": code,
        "description": f"{dept_zh}提供的{name_zh},{PERIOD_ZH[period]}更新,用于{rng.choice(PURPOSES)}。",
        "classification": rng.choice(CLASSIFICATIONS),
        "kind": kind,
        "fields": fields,
        "basic_items": fields[:2] if kind == "basic" else [],
        "format": rng.choice(["数据库表", "电子文件", "接口"]),
        "update_period": period,
        "share_type": share_type,
        "controlled_parameters": rng.random() < 0.3,
        "sharing_modes": [] if share_type == "not_shared" else rng.sample(MODES, rng.randint(1, 3)),
        "usage_requirements": "仅用于履行职责,不得转让" if share_type == "conditional" else "",
        "open_type": rng.choice(["", "open", "conditional_open", "not_open"]),
        "legal_basis": "《中华人民共和国个人信息保护法》" if share_type != "unconditional" else "",
    }


def fill(engine, entries: int, batch: int, seed: int) -> float:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with Session(engine) as session:
        for code, name_zh, name_en in DEPARTMENTS:
            if session.get(Department, code) is None:
                session.add(Department(code=code, name_zh=name_zh, name_en=name_en, created_at=now))
        session.commit()
    started = time.perf_counter()
    for start in range(0, entries, batch):
        drafts = [make_entry(rng, n) for n in range(start, min(start + batch, entries))]
        with Session(engine) as session:
            catalog.publish(session, drafts, department="zwfw", now=now)
            session.commit()
        done = min(start + batch, entries)
        if done % (batch * 10) == 0 or done == entries:
            rate = done / (time.perf_counter() - started)
            print(f"  filled {done:>7,} entries ({rate:,.0f}/s)", flush=True)
    return time.perf_counter() - started


def analyze(engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def make_queries(count: int, seed: int) -> list[tuple[str, str, str | None]]:
    """(kind, q, department) — a mix of what people type."""
    rng = random.Random(seed + 1)
    two = sorted({s[:2] for s, _e, _b in SUBJECTS} | {s[:2] for s, _e in SUFFIXES})
    four = sorted(
        {s for s, _e in SUFFIXES if len(s) == 4}
        | {s[:4] for s, _e, _b in SUBJECTS if len(s) >= 4}
        | {(s + x)[:4] for s, _e, _b in SUBJECTS for x, _ in SUFFIXES if len(s) == 2}
    )
    english = sorted(
        {e.split()[0] for _s, e, _b in SUBJECTS}
        | {e.split()[0][:3] for _s, e, _b in SUBJECTS}
        | {e for _s, e in SUFFIXES}
        | {f"{e.split()[0]} {x.split()[0][:3]}" for _s, e, _b in SUBJECTS for _x, x in SUFFIXES}
    )
    departments = [code for code, _z, _e in DEPARTMENTS]
    out: list[tuple[str, str, str | None]] = []
    for i in range(count):
        pick = i % 5
        if pick == 0:
            out.append(("2-char", rng.choice(two), None))
        elif pick == 1:
            out.append(("4-char", rng.choice(four), None))
        elif pick == 2:
            out.append(("english", rng.choice(english), None))
        elif pick == 3:
            q = rng.choice(two + four + english)
            out.append(("department", q, rng.choice(departments)))
        else:
            out.append(("page 5 of 信息", "信息", None))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_queries(engine, queries, limit: int) -> dict[str, list[tuple[float, int]]]:
    timings: dict[str, list[tuple[float, int]]] = {}
    for kind, q, department in queries:
        offset = 4 * limit if kind.startswith("page") else 0
        started = time.perf_counter()
        with Session(engine) as session:
            _rows, total = catalog.search(session, q, department=department, limit=limit, offset=offset)
        elapsed = (time.perf_counter() - started) * 1000
        timings.setdefault(kind, []).append((elapsed, total))
    return timings


def report(timings: dict[str, list[tuple[float, int]]]) -> list[float]:
    print(f"  {'kind':<16}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'matches':>10}")
    everything: list[float] = []
    for kind, rows in timings.items():
        ms = [m for m, _t in rows]
        everything += ms
        mean_total = statistics.mean(t for _m, t in rows)
        print(
            f"  {kind:<16}{len(ms):>6}{percentile(ms, 50):>9.2f}{percentile(ms, 95):>9.2f}"
            f"{percentile(ms, 99):>9.2f}{max(ms):>9.2f}{mean_total:>10,.0f}"
        )
    print(
        f"  {'all':<16}{len(everything):>6}{percentile(everything, 50):>9.2f}"
        f"{percentile(everything, 95):>9.2f}{percentile(everything, 99):>9.2f}{max(everything):>9.2f}"
    )
    return everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a SQLite file in a temp directory")
    parser.add_argument("--pg", action="store_true", help="start a throwaway PostgreSQL (tests/pg.py)")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000, help="entries per transaction while filling")
    parser.add_argument("--limit", type=int, default=20, help="page size")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--reuse", action="store_true", help="a --database-url that already holds the entries: search only"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the rows of make bench's table last, as JSON"
    )
    args = parser.parse_args()

    server = None
    temp = None
    url = args.database_url
    if args.pg:
        from pg import PostgresServer

        server = PostgresServer.start()
        url = server.create_database("catalog_bench")
    elif url is None:
        temp = tempfile.TemporaryDirectory(prefix="catalog-bench-")
        url = f"sqlite:///{temp.name}/catalog.db"
    try:
        engine = make_engine(url)
        init_schema(engine)
        print(f"database: {engine.dialect.name} ({engine.url.render_as_string(hide_password=True)})")
        if not args.reuse:
            print(f"filling {args.entries:,} entries through catalog.publish, {args.batch} per transaction")
            seconds = fill(engine, args.entries, args.batch, args.seed)
            print(f"fill: {seconds:.1f} s ({args.entries / seconds:,.0f} entries/s)")
            started = time.perf_counter()
            analyze(engine)
            print(f"analyze: {time.perf_counter() - started:.1f} s")
        with engine.connect() as conn:
            entries = conn.execute(text("SELECT count(*) FROM resource")).scalar_one()
            terms = conn.execute(text("SELECT count(*) FROM resource_term")).scalar_one()
        print(f"catalog: {entries:,} entries, {terms:,} index rows ({terms / max(entries, 1):.0f} per entry)")
        queries = make_queries(args.queries, args.seed)
        run_queries(engine, queries[: max(20, len(queries) // 10)], args.limit)  # warm the cache
        print(f"{len(queries)} searches (page size {args.limit}), each in its own session:")
        everything = report(run_queries(engine, queries, args.limit))
        engine.dispose()
        if args.json:
            p50, p99 = percentile(everything, 50), percentile(everything, 99)
            print(
                json.dumps(
                    {
                        "bench": "catalog_search",
                        "rows": [
                            {
                                "section": "6. Working days and catalog search",
                                "what": f"catalog search on {entries:,} entries ({engine.dialect.name}), "
                                f"{len(everything)} searches: p50 / p99",
                                "figure": f"{p50:.1f} / {p99:.1f} ms",
                                "target": None,
                                "met": None,
                            }
                        ],
                    },
                    ensure_ascii=False,
                )
            )
    finally:
        if server is not None:
            server.stop()
        if temp is not None:
            temp.cleanup()


if __name__ == "__main__":
    main()
