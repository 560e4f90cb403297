"""`lapor`: the command-line tool of the pipeline (README, "Commands")."""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from datetime import date, timedelta
from pathlib import Path

from lapor.settings import Settings, SettingError


_DATE_SHAPE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _date(text: str) -> date:
    """YYYY-MM-DD; a well-formed date that does not exist (2021-02-30) is told apart from a typo."""
    match = _DATE_SHAPE.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2021-05-27")
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        raise argparse.ArgumentTypeError(f"{text}: that day does not exist (there is no month {month:02d})")
    try:
        return date(year, month, day)
    except ValueError:
        from calendar import month_name, monthrange

        days = monthrange(year, month)[1] if year >= 1 else 31
        raise argparse.ArgumentTypeError(
            f"{text}: that day does not exist ({month_name[month]} {year:04d} has {days} days)") from None


def _run_date(text: str) -> date:
    """A date a night may run for: not after today in WIB, inside the working-day calendar.
    Checked while the arguments are read, so a refused date writes nothing at all."""
    from lapor.calendar import RunDateError, check_run_date

    day = _date(text)
    try:
        return check_run_date(day)
    except RunDateError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _folder(text: str) -> Path:
    path = Path(text).expanduser().resolve()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    return path


def _quiet_airflow_logs(settings: Settings) -> Path:
    """Task logs go to LAPOR_HOME/logs/lapor.log (mode 0600, passwords masked: `SecretsFilter`);
    the terminal keeps the summary readable."""
    from lapor.warehouse import SecretsFilter

    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_file = settings.logs_dir / "lapor.log"
    os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    log_file.chmod(0o600)
    handler = logging.FileHandler(log_file)
    handler.addFilter(SecretsFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return log_file


def _run_days(settings: Settings, days: list[date], exports: Path | None, label: str, log_file: Path) -> list:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lapor import runner

    outcomes = []
    terminal = Console(file=os.fdopen(os.dup(sys.stdout.fileno()), "w"))
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[day]}"), TimeElapsedColumn(), transient=False,
                  console=terminal) as progress:
        task = progress.add_task(label, total=len(days), day="")
        for day in days:
            progress.update(task, day=day.isoformat())
            outcome = runner.run_date(settings, day, exports, log_file=log_file)
            outcomes.append(outcome)
            if not outcome.ok:
                progress.console.print(f"[red]{day}: run {outcome.state}; failed: {', '.join(outcome.failed_tasks)}")
            progress.advance(task)
    return outcomes


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    return cmd_backfill(argparse.Namespace(start=args.date, end=args.date, exports=args.exports), settings)


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    if args.end < args.start:
        print(f"lapor: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    days = [args.start + timedelta(days=i) for i in range((args.end - args.start).days + 1)]
    exports = args.exports or settings.exports_dir
    if not exports.is_dir():
        print(f"lapor: the drop folder {exports} does not exist (set LAPOR_EXPORTS_DIR or pass --exports)",
              file=sys.stderr)
        return 2
    log_file = _quiet_airflow_logs(settings)
    outcomes = _run_days(settings, days, exports, "lapor_nightly", log_file)
    failed = [o for o in outcomes if not o.ok]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} run(s) succeeded. Logs: {log_file}")
    _print_input_warnings(settings, days)
    return 1 if failed else 0


def _print_input_warnings(settings: Settings, days: list[date]) -> None:
    """The run's summary names what in the drop folder was not read or read with a doubt
    (quality.input_warnings), so a misnamed upload is found the same morning."""
    from lapor.warehouse import connect, warehouse_url

    try:
        with connect(warehouse_url(settings)) as conn:
            rows = conn.execute(
                "select run_date, file, reason_code from quality.input_warnings where run_date = any(%s) "
                "order by run_date, file", (days,)).fetchall()
    except Exception:  # the runs' own outcome is already printed; this is a summary
        return
    if not rows:
        return
    print(f"{len(rows)} warning(s) about the drop folder (quality.input_warnings, and the digest):")
    for day, file, code in rows[:20]:
        print(f"  {day} {file}: {code}")
    if len(rows) > 20:
        print(f"  … and {len(rows) - 20} more")


def cmd_warehouse_url(args: argparse.Namespace, settings: Settings) -> int:
    from lapor.warehouse import bi_reader_url, warehouse_url

    print(bi_reader_url(settings) if args.bi else warehouse_url(settings))
    return 0


def cmd_warehouse_stop(args: argparse.Namespace, settings: Settings) -> int:
    from lapor.warehouse import EmbeddedServer

    if settings.warehouse_url:
        print("LAPOR_WAREHOUSE_URL is set: the warehouse is not embedded, nothing to stop.")
        return 0
    stopped = EmbeddedServer(settings.home).stop()
    print("embedded warehouse stopped" if stopped else "embedded warehouse was not running")
    return 0


def cmd_dbt_env(args: argparse.Namespace, settings: Settings) -> int:
    import shlex

    from lapor.transform import dbt_env
    from lapor.warehouse import warehouse_url

    for key, value in dbt_env(warehouse_url(settings)).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_generate_sample(args: argparse.Namespace, settings: Settings) -> int:
    from lapor.dev.generate import generate_sample_exports

    summary = generate_sample_exports(args.out, scale=args.scale)
    print(f"sample exports written to {args.out}: {summary.get('files', summary)}")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from lapor.dev.bench import main as bench_main

    return bench_main(args.bench_args, settings)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from lapor.demo_run import run_demo

    return run_demo(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lapor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("demo", help="sample exports of all 38 agencies, the nightly DAG over the demo period, a summary")

    run = sub.add_parser("run", help="one nightly run for a logical date, through the Airflow DAG")
    run.add_argument("--date", type=_run_date, required=True, help="the run date (YYYY-MM-DD)")
    run.add_argument("--exports", type=_folder, help="drop folder (default LAPOR_EXPORTS_DIR)")

    backfill = sub.add_parser("backfill", help="one run per date, in order, with a progress bar")
    backfill.add_argument("--start", type=_run_date, required=True, help="first run date (YYYY-MM-DD)")
    backfill.add_argument("--end", type=_run_date, required=True, help="last run date (YYYY-MM-DD)")
    backfill.add_argument("--exports", type=_folder, help="drop folder (default LAPOR_EXPORTS_DIR)")

    url = sub.add_parser("warehouse-url", help="the connection URL of the warehouse in use")
    url.add_argument("--bi", action="store_true", help="the read-only URL for BI tools (role bi_reader)")
    sub.add_parser("warehouse-stop", help="stop the embedded warehouse server")
    sub.add_parser("dbt-env", help="shell exports to run dbt by hand against the warehouse")

    bench = sub.add_parser("bench", help="the benchmark (BENCH_SCALE=small|jatim|national)")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="options of the benchmark (see lapor bench --help)")

    gen = sub.add_parser("generate-sample", help="write the deterministic sample drop folder")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--scale", type=float, default=1.0)
    return parser


COMMANDS = {
    "demo": cmd_demo, "run": cmd_run, "backfill": cmd_backfill, "warehouse-url": cmd_warehouse_url,
    "warehouse-stop": cmd_warehouse_stop, "dbt-env": cmd_dbt_env, "generate-sample": cmd_generate_sample,
    "bench": cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command in {"demo", "run", "backfill"}:
            from lapor.runner import configure_airflow

            configure_airflow(settings)  # before anything imports airflow
        return COMMANDS[args.command](args, settings)
    except SettingError as exc:
        print(f"lapor: setting error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear line for the operator; the traceback is in the log
        from lapor.registry import RegistryError
        from lapor.runner import RunError
        from lapor.warehouse import WarehouseError

        if isinstance(exc, (WarehouseError, RegistryError, RunError)):
            print(f"lapor: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
