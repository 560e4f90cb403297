"""`lapor`: the command-line tool of the LAPOR! Jatim nightly pipeline.

Every command reads its settings (LAPOR_HOME, LAPOR_WAREHOUSE_URL, …; README, "Settings")
from the environment and checks them first: a wrong value stops it with one line naming the
variable and exit code 2. A mistake in the arguments also exits 2; a run that failed exits 1.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from datetime import date, timedelta
from pathlib import Path

from lapor.runner import log_to_file as _quiet_airflow_logs  # noqa: F401  (the name tests and older code use)
from lapor.settings import Settings, SettingError

EXAMPLES = """\
examples:
  lapor demo                                   the sample drop folder and the demo period, end to end
  lapor run --date 2021-05-27 --exports .lapor/sample-exports
  lapor backfill --start 2021-05-24 --end 2021-05-28 --exports .lapor/sample-exports
  lapor warehouse-url --bi                     the URL a BI tool connects with
  lapor dbt -- build --select fct_complaints   dbt with the nightly run's profile and --vars
  eval "$(lapor dbt-env)" && dbt ls            dbt by hand, in this shell
  lapor psql -- -c 'select count(*) from marts.fct_complaints'
  lapor generate-sample --out /tmp/drop --scale 0.25
  lapor bench --scale small

exit codes: 0 done; 1 a run or a step failed (the log says why); 2 a wrong argument or setting.
"""


class UsageError(Exception):
    """A user's mistake found while a command runs: one line, exit code 2."""


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
            f"{text}: {day} {month_name[month]} {year:04d} does not exist ({month_name[month]} {year:04d} "
            f"has {days} days)") from None


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
        raise argparse.ArgumentTypeError(f"{text}: {'not a folder' if path.exists() else 'no such folder'}")
    return path


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 0.25 or 1)") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: must be a number greater than 0 (e.g. 0.25 or 1)")
    return value


def _output_folder(text: str) -> Path:
    """A folder that exists or can be made: its nearest existing parent is a writable folder."""
    path = Path(text).expanduser().resolve()
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: {probe} is not writable")
    return path


def _drop_folder(settings: Settings, given: Path | None) -> Path:
    """--exports, else LAPOR_EXPORTS_DIR; a missing one is a usage error that says what to do."""
    exports = given or settings.exports_dir
    if exports.is_dir():
        return exports
    sample = settings.home / "sample-exports"
    hint = "set LAPOR_EXPORTS_DIR or pass --exports DIR"
    if sample.is_dir() and not os.environ.get("LAPOR_EXPORTS_DIR"):
        hint = (f"the demo's sample exports are in {sample}: pass --exports {sample} "
                f"(or set LAPOR_EXPORTS_DIR={sample})")
    raise UsageError(f"the drop folder {exports} does not exist; {hint}")


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    return cmd_backfill(argparse.Namespace(start=args.date, end=args.date, exports=args.exports), settings)


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from lapor import runner

    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    days = [args.start + timedelta(days=i) for i in range((args.end - args.start).days + 1)]
    exports = _drop_folder(settings, args.exports)
    log_file = runner.log_to_file(settings)
    outcomes = runner.run_days(settings, days, exports, runner.DAG_ID, log_file)
    failed = [o for o in outcomes if not o.ok]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} run(s) succeeded. Logs: {log_file}")
    _print_nights(settings, days, exports)
    _print_input_warnings(settings, days)
    return 1 if failed else 0


SUMMARY_DAYS = 10  # a backfill's summary shows its last nights, one line each


def _print_nights(settings: Settings, days: list[date], exports: Path) -> None:
    """Each night in one line: the findings open, by check, and the e-mails about it; then where
    the e-mails and the report are. A working day on which no registered agency's export was in
    the drop folder is said loudly: most likely `--exports` is not the drop folder."""
    from lapor.report import report_path
    from lapor.warehouse import connect, warehouse_url

    try:
        with connect(warehouse_url(settings)) as conn:
            agencies = conn.execute("select count(*) from ref.agencies").fetchone()[0]
            findings = conn.execute(
                "select run_date, check_name, count(*) from quality.check_results "
                "where run_date = any(%s) and not passed group by 1, 2 order by 1, 3 desc, 2", (days,)).fetchall()
            mails = dict(conn.execute("select run_date, count(*) from quality.alerts_sent "
                                      "where run_date = any(%s) group by 1", (days,)).fetchall())
    except Exception:  # the runs' own outcome is already printed; this is a summary
        return
    by_day: dict[date, list[tuple[str, int]]] = {}
    for day, check, count in findings:
        by_day.setdefault(day, []).append((check, count))
    shown = days[-SUMMARY_DAYS:]
    if len(days) > len(shown):
        print(f"  … {len(days) - len(shown)} earlier night(s) (quality.check_results)")
    for day in shown:
        checks = by_day.get(day, [])
        total = sum(n for _, n in checks)
        detail = f" ({', '.join(f'{c} {n}' for c, n in checks)})" if checks else ""
        print(f"  {day}: {total} finding(s){detail}; {mails.get(day, 0)} e-mail(s)")
    for day in shown:
        if agencies and dict(by_day.get(day, [])).get("export_missing") == agencies:
            print(f"Warning: no registered agency's complaints export for {day} was in {exports}. If that is "
                  f"not the drop folder, run {day} again with the right --exports: its findings and "
                  "e-mails stand until then.")
    print(f"E-mails: {'sent through LAPOR_SMTP_URL' if settings.smtp_url else settings.outbox_dir}; "
          f"report: {report_path(settings, days[-1])}")


def _print_input_warnings(settings: Settings, days: list[date]) -> None:
    """The run's summary names what in the drop folder was not read or read with a doubt
    (quality.input_warnings), so a misnamed upload is found the same morning."""
    from lapor.warehouse import connect, warehouse_url

    try:
        with connect(warehouse_url(settings)) as conn:
            rows = conn.execute(
                "select run_date, file, reason_code, reason from quality.input_warnings where run_date = any(%s) "
                "order by run_date, file", (days,)).fetchall()
    except Exception:  # the runs' own outcome is already printed; this is a summary
        return
    if not rows:
        return
    print(f"{len(rows)} warning(s) about the drop folder (quality.input_warnings, and the digest):")
    from lapor.sources.folder import shown_name

    for day, file, code, reason in rows[:20]:
        said = shown_name(" ".join(reason.split()))  # one line, nothing a terminal would act on
        print(f"  {day} {shown_name(file)}: {code}: {said[:157] + '…' if len(said) > 160 else said}")
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
    import json
    import shlex

    from lapor.transform import dbt_env, dbt_paths
    from lapor.warehouse import warehouse_url

    values = {**dbt_env(warehouse_url(settings)), **dbt_paths(settings),
              "LAPOR_DBT_VARS": json.dumps(settings.dbt_vars())}
    for key, value in values.items():
        print(f"export {key}={shlex.quote(value)}")
    print("# then: dbt build --vars \"$LAPOR_DBT_VARS\"   (or simply: lapor dbt -- build)")
    return 0


def cmd_dbt(args: argparse.Namespace, settings: Settings) -> int:
    """dbt with the nightly run's connection, project, profile, target path and --vars."""
    import json
    import subprocess

    from lapor.transform import dbt_env, dbt_paths
    from lapor.warehouse import warehouse_url

    passed = list(args.dbt_args)
    if passed[:1] == ["--"]:
        passed = passed[1:]
    if not passed:
        raise UsageError("give dbt's arguments after --, e.g. lapor dbt -- build --select fct_complaints")
    executable = Path(sys.executable).with_name("dbt")
    program = str(executable if executable.exists() else "dbt")
    if passed[0].startswith("-"):  # dbt's own options only (--version, --help): no warehouse needed
        return subprocess.run([program, *passed]).returncode
    # the paths through dbt's own environment variables (every sub-command that has the option
    # reads it; `dbt debug` and `dbt deps` have no --target-path), the policy as --vars (all have it)
    env = {**os.environ, **dbt_env(warehouse_url(settings)), **dbt_paths(settings)}
    if "--vars" not in passed:
        passed += ["--vars", json.dumps(settings.dbt_vars())]
    return subprocess.run([program, *passed], env=env).returncode


def cmd_psql(args: argparse.Namespace, settings: Settings) -> int:
    """psql (bundled with the embedded server's binaries) connected to the warehouse."""
    import subprocess

    from lapor.warehouse import bi_reader_url, warehouse_url

    passed = list(args.psql_args)
    bi = passed[:1] == ["--bi"]
    passed = passed[1:] if bi else passed
    if passed[:1] == ["--"]:
        passed = passed[1:]
    elif passed:
        raise UsageError(f"lapor psql: {passed[0]!r} is not an option of lapor psql (--bi); psql's own "
                         "arguments go after --, e.g. lapor psql -- -c 'select 1'")
    from pgserver._commands import POSTGRES_BIN_PATH

    url = bi_reader_url(settings) if bi else warehouse_url(settings)
    return subprocess.run([str(Path(POSTGRES_BIN_PATH) / "psql"), url, *passed]).returncode


def cmd_generate_sample(args: argparse.Namespace, settings: Settings) -> int:
    from lapor.dev.generate import generate_sample_exports

    try:
        summary = generate_sample_exports(args.out, scale=args.scale)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot write there ({exc.strerror or exc})") from exc
    files = summary.get("files", {})
    print(f"Sample drop folder written to {args.out}:")
    print(f"  {len(summary.get('complaints', {}))} agencies, {summary.get('total_complaints', 0):,} complaints; "
          f"nightly exports {summary.get('start')} to {summary.get('end')}")
    print(f"  {files.get('total', '?')} files: {files.get('complaints', '?')} complaints exports, "
          f"{files.get('followup', '?')} follow-up reports")
    from lapor.demo_run import lapor_command

    print(f"Next: {lapor_command()} run --date {summary.get('end')} --exports {args.out}")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from lapor.dev.bench import main as bench_main

    return bench_main(args.bench_args, settings)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from lapor.demo_run import run_demo
    from lapor.dev.generate import DEMO_END, DEMO_START, generate_sample_exports

    return run_demo(settings, DEMO_START, DEMO_END, generate_sample_exports)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lapor-jatim")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lapor", description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the Python traceback too (e.g. lapor --debug run --date 2021-05-27)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=f"{description}\n\nexample:\n  {example}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    command("demo", "the demo: sample exports of all 38 agencies and the nightly DAG over 24-31 May 2021",
            "Writes the sample drop folder (LAPOR_HOME/sample-exports), runs the nightly DAG for every\n"
            "day of the demo period and prints the findings and where the results are. Safe to re-run.",
            "lapor demo")

    run = command("run", "one nightly run for a date, through the Airflow DAG",
                  "One nightly run for the date D, through the Airflow DAG (dag.test()). Running a date\n"
                  "again replaces that date's results. Logs: LAPOR_HOME/logs/lapor.log.",
                  "lapor run --date 2021-05-27 --exports .lapor/sample-exports")
    run.add_argument("--date", type=_run_date, required=True, metavar="YYYY-MM-DD",
                     help="the run date, not after today (WIB), e.g. 2021-05-27")
    run.add_argument("--exports", type=_folder, metavar="DIR",
                     help="the drop folder (default LAPOR_EXPORTS_DIR), e.g. .lapor/sample-exports")

    backfill = command("backfill", "one run per date, in order, with a progress bar",
                       "One nightly run per date from --start to --end, in order (each day's marts build\n"
                       "on the days before it), with a progress bar.",
                       "lapor backfill --start 2021-05-24 --end 2021-05-28 --exports .lapor/sample-exports")
    backfill.add_argument("--start", type=_run_date, required=True, metavar="YYYY-MM-DD",
                          help="the first run date, e.g. 2021-05-24")
    backfill.add_argument("--end", type=_run_date, required=True, metavar="YYYY-MM-DD",
                          help="the last run date (not before --start), e.g. 2021-05-28")
    backfill.add_argument("--exports", type=_folder, metavar="DIR",
                          help="the drop folder (default LAPOR_EXPORTS_DIR), e.g. .lapor/sample-exports")

    url = command("warehouse-url", "print the connection URL of the warehouse in use",
                  "Prints the owner's URL of the warehouse (LAPOR_WAREHOUSE_URL, or the embedded one,\n"
                  "which this starts when it is stopped).",
                  "psql \"$(lapor warehouse-url)\"")
    url.add_argument("--bi", action="store_true",
                     help="the read-only URL for BI tools (role bi_reader, schema marts), e.g. lapor warehouse-url --bi")
    command("warehouse-stop", "stop the embedded warehouse server",
            "Stops the embedded PostgreSQL server under LAPOR_HOME/pgdata (the next command that needs\n"
            "it starts it again). Nothing to do when LAPOR_WAREHOUSE_URL is set.",
            "lapor warehouse-stop")
    command("dbt-env", "shell exports to run dbt by hand against the warehouse",
            "Prints `export` lines: the connection (LAPOR_DBT_*), DBT_PROJECT_DIR, DBT_PROFILES_DIR,\n"
            "DBT_TARGET_PATH, DBT_LOG_PATH, and LAPOR_DBT_VARS (the --vars of the nightly run).",
            "eval \"$(lapor dbt-env)\" && dbt build --select fct_complaints --vars \"$LAPOR_DBT_VARS\"")
    dbt = command("dbt", "run dbt with exactly the nightly run's profile, target path and --vars",
                  "Runs dbt with the arguments after --, adding the nightly run's --project-dir,\n"
                  "--profiles-dir, --target-path, --log-path and --vars (LAPOR_FOLLOWUP_*, ...). Exits\n"
                  "with dbt's exit code.",
                  "lapor dbt -- build --select fct_complaints")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="-- ARGS",
                     help="dbt's own arguments, after --, e.g. -- build --full-refresh")

    psql = command("psql", "a SQL shell on the warehouse (the bundled psql)",
                   "Opens psql, bundled with the embedded server, on the warehouse in use (starting the\n"
                   "embedded one when it is stopped); psql's own arguments go after --.",
                   "lapor psql -- -c 'select * from marts.agency_scorecard limit 5'")
    psql.add_argument("psql_args", nargs=argparse.REMAINDER, metavar="[--bi] [-- ARGS]",
                      help="--bi: as the read-only role bi_reader; after --, psql's arguments, e.g. -- -c 'select 1'")

    bench = command("bench", "the benchmark: every stage at a named scale (options: lapor bench --help)",
                    "Generates exports at a scale, runs each stage and prints rows, seconds, rows per second,\n"
                    "peak memory and the load's ratio to a plain COPY (docs/benchmarks.md).",
                    "lapor bench --scale small")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="OPTIONS",
                       help="the benchmark's options, e.g. --scale jatim --repeat 1")

    gen = command("generate-sample", "write the deterministic sample drop folder",
                  "Writes the sample exports of all 38 agencies (history from January 2020, nightly\n"
                  "exports 24-31 May 2021, follow-up reports) into a drop folder.",
                  "lapor generate-sample --out /tmp/drop --scale 0.25")
    gen.add_argument("--out", type=_output_folder, required=True, metavar="DIR",
                     help="the folder to write (made if missing), e.g. /tmp/drop")
    gen.add_argument("--scale", type=_scale, default=1.0, metavar="X",
                     help="complaint volume relative to the demo's, greater than 0 (default 1), e.g. 0.25")
    return parser


COMMANDS = {
    "demo": cmd_demo, "run": cmd_run, "backfill": cmd_backfill, "warehouse-url": cmd_warehouse_url,
    "warehouse-stop": cmd_warehouse_stop, "dbt-env": cmd_dbt_env, "dbt": cmd_dbt,
    "generate-sample": cmd_generate_sample, "bench": cmd_bench, "psql": cmd_psql,
}
# Commands whose arguments belong to another program: everything after the command is passed on.
PASSTHROUGH = {"bench", "dbt", "psql"}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    position = next((i for i, word in enumerate(argv) if not word.startswith("-")), None)
    if position is not None and argv[position] in PASSTHROUGH:
        rest = argv[position + 1:]
        if argv[position] in ("dbt", "psql") and rest in (["-h"], ["--help"]):
            parser.parse_args([*argv[:position], argv[position], "--help"])  # lapor's own help; exits
        args = parser.parse_args([*argv[:position], argv[position]])
        setattr(args, f"{argv[position]}_args", rest)
        return args
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parse(argv)
    try:
        settings = Settings.from_env()
        if args.command in {"demo", "run", "backfill"}:
            from lapor.runner import configure_airflow

            configure_airflow(settings)  # once, here: before anything imports airflow
        return COMMANDS[args.command](args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return _report(exc)


def _report(exc: Exception) -> int:
    """One line for the operator: 2 for a mistake of theirs, 1 for a failure."""
    from lapor.registry import RegistryError
    from lapor.runner import RunError
    from lapor.transform import TransformError
    from lapor.warehouse import WarehouseError, mask

    if isinstance(exc, SettingError):
        print(f"lapor: setting error: {exc}", file=sys.stderr)  # its URLs are shown without password
        return 2
    if isinstance(exc, UsageError):
        print(f"lapor: {exc}", file=sys.stderr)
        return 2
    if isinstance(exc, (WarehouseError, RegistryError, RunError, TransformError)):
        print(f"lapor: {mask(str(exc))}", file=sys.stderr)
        return 1
    print(f"lapor: unexpected error: {type(exc).__name__}: {mask(str(exc))}\n"
          "       run the command again with --debug (lapor --debug ...) to see the traceback",
          file=sys.stderr)
    return 1


def entry() -> None:
    """The `lapor` command: `main`, then an exit that does not free the process object by object.

    After a run the process holds Airflow, dbt and Great Expectations with millions of objects;
    Python's own exit tore them down one at a time, 4.4 s after every `lapor run` at Jawa Timur
    scale (measured), for nothing: the memory goes back to the system either way. Everything
    the process owes the outside is done first, as a normal exit does it: the threads that are
    not daemons are waited for, the exit handlers run (logging's flush and close, Airflow's,
    temporary folders'), stdout and stderr are flushed. Then `os._exit` with `main`'s code.
    `--help`, an argument error and `--debug`'s traceback leave the normal way.
    """
    import atexit
    import threading

    code = main()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what the interpreter runs at exit (CPython's, stable since Python 2)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    entry()
