"""`lapor demo`: the sample drop folder, the nightly DAG over the demo period, and a summary."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from lapor import vocabulary
from lapor.settings import Settings

SEED_DATE = date(2021, 5, 27)


def _flagged(conn, day: date) -> dict[str, list[tuple[str, str, str]]]:
    rows = conn.execute(
        """select r.check_name, r.agency_code, a.agency_name, r.details
           from quality.check_results r join ref.agencies a using (agency_code)
           where r.run_date = %s and not r.passed order by r.check_name, r.agency_code""",
        (day,),
    ).fetchall()
    out: dict[str, list[tuple[str, str, str]]] = {}
    for check, code, name, details in rows:
        out.setdefault(check, []).append((code, name, details))
    return out


def _shorten(details: str, width: int = 140) -> str:
    """A finding's details on one summary line: cut at a word, marked with an ellipsis. Details
    of several parts ("…; …; none since 2021-05-21") keep their first and last parts when those
    fit, the last being the most telling (the day an agency went silent)."""
    details = " ".join(details.split())
    if len(details) <= width:
        return details
    parts = details.split("; ")
    if len(parts) > 2 and len(parts[0]) + len(parts[-1]) + 5 <= width:
        return f"{parts[0]}; …; {parts[-1]}"
    return details[:width - 1].rsplit(" ", 1)[0] + " …"


def summary_text(settings: Settings, days: list[date]) -> str:
    from lapor.quality.checks import data_docs_index
    from lapor.report import report_path
    from lapor.transform import docs_index
    from lapor.warehouse import bi_reader_url, connect, redact, warehouse_url

    url = warehouse_url(settings)
    last = days[-1]
    lines = [f"Ran lapor_nightly for {len(days)} day(s), {days[0]} to {last}."]
    with connect(url) as conn:
        if SEED_DATE in days:
            missing = _flagged(conn, SEED_DATE).get("followup_report_missing", [])
            names = "; ".join(f"{name} ({code}): {details}" for code, name, details in missing) or "none"
            lines.append(f"\nFollow-up report missing on {SEED_DATE}: {names}")
        for day in sorted({SEED_DATE, last} & set(days)):
            flagged = _flagged(conn, day)
            lines.append(f"\nFindings for {day}:")
            if not flagged:
                lines.append("  none")
            order = [c.name for c in vocabulary.checks()]  # the digest's order (coordinator_checks.csv)
            for check in sorted(flagged, key=lambda c: order.index(c) if c in order else len(order)):
                agencies = flagged[check]
                lines.append(f"  {check}: {len(agencies)} agenc{'y' if len(agencies) == 1 else 'ies'}")
                for code, name, details in agencies[:5]:
                    lines.append(f"    - {name} ({code}): {_shorten(details)}")
                if len(agencies) > 5:
                    lines.append(f"    … and {len(agencies) - 5} more (see the digest e-mail or the report)")
        backlog = conn.execute(
            """select b.agency_code, a.agency_name, b.open_from_prior_years
               from marts.fct_backlog_daily b join marts.dim_agency a using (agency_code)
               where b.as_of_date = %s order by b.open_from_prior_years desc, b.agency_code""",
            (last,),
        ).fetchall()
        total = sum(r[2] for r in backlog)
        lines.append(f"\n2020 backlog still open on {last}: {total} complaints; the largest:")
        for code, name, count in backlog[:5]:
            lines.append(f"    {name} ({code}): {count}")
        sent = conn.execute("select transport, count(*) from quality.alerts_sent group by 1").fetchall()
    lines += [
        "",
        "Where the results are:",
        f"  marts (PostgreSQL):   {redact(url)}  (schema marts)",
        f"  BI tools connect to:  {redact(bi_reader_url(settings))}  (with its password: lapor warehouse-url --bi)",
        f"  report:               {report_path(settings, last)}",
        f"  alert e-mails:        {settings.smtp_url or settings.outbox_dir}"
        + (f"  ({', '.join(f'{n} via {t}' for t, n in sent)} in total)" if sent else ""),
        f"  data docs (GX):       {data_docs_index(settings)}",
        f"  dbt docs:             {docs_index(settings)}",
        f"  logs:                 {settings.logs_dir}",
        f"  landing zone:         {settings.landing_dir}",
    ]
    return "\n".join(lines)


def lapor_command() -> str:
    """How to call this `lapor` again from here: `lapor` when that is the one on PATH, else its
    path (`.venv/bin/lapor` after `make demo`, whose `.venv` is not on PATH)."""
    import os
    import shutil
    import sys

    me = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if me is None or me.name != "lapor":
        return "lapor"
    found = shutil.which("lapor")
    if found and Path(found).resolve() == me:
        return "lapor"
    relative = os.path.relpath(me)
    return relative if not relative.startswith("..") else str(me)


def run_demo(settings: Settings, first: date, last: date, write_exports: Callable[[Path], object]) -> int:
    """The nightly DAG for every day from `first` to `last` over the drop folder that
    `write_exports` writes (the sample generator of lapor.dev, which `lapor demo` passes in: no
    runtime module imports it), then the summary."""
    from lapor import runner
    from lapor.warehouse import redact, warehouse_url

    print(f"LAPOR_HOME: {settings.home}")
    url = warehouse_url(settings)
    print(f"warehouse: {redact(url)}")
    exports = settings.home / "sample-exports"
    write_exports(exports)
    print(f"sample exports of all 38 agencies: {exports}")
    log_file = runner.log_to_file(settings)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    outcomes = runner.run_days(settings, days, exports, f"demo: {runner.DAG_ID}", log_file)
    failed = [o for o in outcomes if not o.ok]
    print()
    print(summary_text(settings, days))
    print(f"\nFull log: {log_file}")
    lapor = lapor_command()
    print("\nNext (README, \"After the demo\"):\n"
          f"  {lapor} run --date {SEED_DATE} --exports {exports}   re-run a day of the demo\n"
          f"  {lapor} psql                                        a SQL shell on the warehouse\n"
          f"  {lapor} dbt -- build --select fct_complaints         dbt with the nightly run's settings")
    if failed:
        print(f"\n{len(failed)} run(s) failed: " + "; ".join(f"{o.run_date}: {', '.join(o.failed_tasks)}"
                                                       for o in failed))
        return 1
    return 0
