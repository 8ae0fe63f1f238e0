"""``govshare statistics``: the published statistics (统计信息, Hubei 26) from the command line.

The same figures as ``GET /statistics`` (``govshare/cases/statistics.py`` defines each one), read
from ``DATABASE_URL``: a table on the terminal, JSON, or CSV (with a UTF-8 BOM, for Excel), and with
``--chart FILE.png`` the chart to publish::

    govshare statistics --period 2026-Q4
    govshare statistics --from 2026-10-01 --to 2026-10-31 --role consumer --format csv > oct.csv
    govshare statistics --period 2026-11 --case-type sharing_application --chart 2026-11.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from govshare.ops.cli import CliError, Handler, _directory_session, command


@command(
    "statistics",
    help="统计信息 / published statistics per department and period (Hubei 26): table, JSON, CSV, chart",
)
def statistics_command(parser: argparse.ArgumentParser) -> Handler:
    parser.epilog = (
        "periods (Asia/Shanghai days): a month 2026-11, a quarter 2026-Q4, a year 2026, or --from/--to\n"
        "dates (both included); default: the last full month.\n"
        "role: provider (the answering side: provider, respondent; default), consumer (the asking side:\n"
        "consumer, complainant, issuer), or one party role as it is (e.g. platform).\n"
        "examples:\n"
        "  govshare statistics --period 2026-Q4\n"
        "  govshare statistics --period 2026-11 --format csv > 2026-11.csv\n"
        "  govshare statistics --period 2026-11 --case-type sharing_application --chart 2026-11.png"
    )
    parser.add_argument("--period", metavar="P", help="2026-11 | 2026-Q4 | 2026 (default: last full month)")
    parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first day (with --to)")
    parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last day, included")
    parser.add_argument("--case-type", metavar="T", help="one case type (default: every registered one)")
    parser.add_argument("--department", metavar="D", help="one department's figures (its code)")
    parser.add_argument("--role", default="provider", metavar="R", help="provider | consumer | a party role")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument(
        "--table",
        choices=("figures", "refusals"),
        default="figures",
        help="with --format csv: the figures, or the refusals with their reasons",
    )
    parser.add_argument(
        "--chart",
        metavar="FILE.png",
        type=Path,
        help="also write the chart of one case type (--case-type, default sharing_application)",
    )

    def handle(args: argparse.Namespace) -> int:
        from govshare.cases import statistics as stats

        try:
            period = stats.parse_period(args.period, date_from=args.date_from, date_to=args.date_to)
            with _directory_session() as session:
                report = stats.compute(
                    session,
                    period,
                    case_type=args.case_type,
                    department=args.department,
                    role=args.role,
                )
        except stats.PeriodError as err:
            raise CliError(f"{err.zh} / {err.en}") from None
        if args.chart is not None:
            if args.chart.suffix.lower() != ".png":
                raise CliError(f"--chart writes a PNG: name the file *.png, not {args.chart}")
            try:
                png = stats.render_chart(report, args.case_type or "sharing_application")
                args.chart.write_bytes(png)
            except stats.ChartFontMissing as err:
                raise CliError(str(err), exit_code=1) from None
            except OSError as err:
                raise CliError(
                    f"无法写入 cannot write {args.chart}: {err.strerror or err}", exit_code=1
                ) from None
            print(f"图表已写入 chart written: {args.chart} ({len(png):,} bytes)", file=sys.stderr)
        if args.format == "json":
            print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        elif args.format == "csv":
            sys.stdout.write(stats.to_csv(report, args.table))
        else:
            sys.stdout.write(stats.to_table(report))
        return 0

    return handle
