"""Every command and option that `lapor --help` and the README name, run as a user would: with
valid input and with the typical mistakes. Each ends with exit code 0 (or 2 for a mistake),
never a Python traceback, and a mistake's message names the wrong value. Every sub-command
has a description and an example, every option a help text with an example, and the README's
command table lists exactly the commands the CLI has.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAPOR = Path(sys.executable).with_name("lapor")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    from lapor.cli import build_parser

    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def readme_commands() -> dict[str, str]:
    """`lapor <command> …` rows of the README's command table: command -> the row's first cell."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `lapor ([a-z][a-z-]*)([^`]*)`", section, flags=re.M)
    return {name: rest for name, rest in rows}


# -- help -----------------------------------------------------------------------------------------
def test_the_readme_command_table_lists_every_command():
    assert set(readme_commands()) == set(subcommands())


def test_lapor_help_names_every_command_and_no_contract_section():
    proc = subprocess.run([str(LAPOR), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for name in subcommands():
        assert re.search(rf"^\s+{re.escape(name)}\b", proc.stdout, flags=re.M), name
    assert "CONTRACT" not in proc.stdout and "§" not in proc.stdout
    assert "examples:" in proc.stdout and "exit codes:" in proc.stdout


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_each_command_has_a_description_an_example_and_help_for_every_option(name):
    parser = subcommands()[name]
    assert parser.description and "example:\n  " in parser.description, name
    assert "see lapor" not in (parser.description or "")
    for action in options(parser):
        assert action.help and "e.g." in action.help, f"lapor {name} {action.option_strings or action.dest}: " \
                                                      f"no help with an example: {action.help!r}"
    proc = subprocess.run([str(LAPOR), name, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "usage:" in proc.stdout


def test_bench_help_is_the_benchmarks_own():
    proc = subprocess.run([str(LAPOR), "bench", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--scale" in proc.stdout and "see lapor bench --help" not in proc.stdout


def test_version():
    from importlib.metadata import version

    proc = subprocess.run([str(LAPOR), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"lapor {version('lapor-jatim')}"


# -- every command and option, valid and wrong ------------------------------------------------------
@pytest.fixture(scope="module")
def user(scratch_module, settings, tmp_path_factory):
    """Runs `lapor` in a new user's shell: its own LAPOR_HOME, the module's scratch warehouse, a
    small sample drop folder; no AIRFLOW_* or LAPOR_* of the session."""
    from lapor.warehouse import bi_password

    _, url, _ = scratch_module
    base = tmp_path_factory.mktemp("cli-user")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LAPOR_", "DBT_"))}
    env.update(LAPOR_HOME=str(base / "home"), LAPOR_WAREHOUSE_URL=url)
    drop = base / "drop"

    def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        text = [a.format(drop=drop, base=base) for a in args]
        # bi_reader's password, as an operator of a LAPOR_WAREHOUSE_URL sets it, for `--bi` only:
        # with it, a night would try to set that role's password (the scratch owner may not)
        extra = {"LAPOR_BI_PASSWORD": bi_password(settings) or ""} if "--bi" in text else {}
        return subprocess.run([str(LAPOR), *text], capture_output=True, text=True, env={**env, **extra},
                              timeout=timeout, cwd=base)

    return run


# (arguments, expected exit code, what the output must name); {drop} is the sample drop folder,
# written by the generate-sample case (the cases run in this order).
VALID = [
    (["--version"], 0, "lapor "),
    (["--help"], 0, "usage: lapor"),
    (["generate-sample", "--out", "{drop}", "--scale", "0.02"], 0, "38 agencies"),
    (["warehouse-url"], 0, "postgresql://"),
    (["warehouse-url", "--bi"], 0, "bi_reader"),
    (["--debug", "warehouse-url"], 0, "postgresql://"),
    (["warehouse-stop"], 0, "nothing to stop"),
    (["dbt-env"], 0, "export DBT_PROFILES_DIR="),
    (["dbt", "--", "--version"], 0, "Core"),
    (["dbt", "--", "ls", "--select", "fct_complaints", "--resource-type", "model", "--output", "name"], 0,
     "fct_complaints"),
    (["psql", "--", "-c", "select 41 + 1 as answer"], 0, "42"),
    (["psql", "--bi", "--", "-c", "select current_user"], 0, "bi_reader"),
    (["bench", "--help"], 0, "--scale"),
    # the demo's own run (five nights of all 38 agencies) is `make demo`; its nights are the
    # runs above and tests/test_seed_scenario.py's
    (["demo", "--help"], 0, "LAPOR_HOME/sample-exports"),
    (["run", "--date", "2021-05-24", "--exports", "{drop}"], 0, "1 of 1 run(s) succeeded"),
    (["backfill", "--start", "2021-05-25", "--end", "2021-05-25", "--exports", "{drop}"], 0,
     "  2021-05-25: "),
    # a folder that is not the drop folder (the sample's parent): every export missing, said loudly
    (["run", "--date", "2021-05-28", "--exports", "{base}"], 0,
     ("Warning: no registered agency's complaints export for 2021-05-28 was in",
      "2021-05-28 drop: unregistered_folder: 'drop' in the drop folder is not the folder of a registered")),
]
WRONG = [
    (["nosuch"], "'nosuch'"),
    (["demo", "--fast"], "--fast"),
    (["--debug", "nosuch"], "'nosuch'"),
    (["run"], "--date"),
    (["run", "--date", "27-05-2021"], "'27-05-2021' is not a date like 2021-05-27"),
    (["run", "--date", "2021-02-30"], "30 February 2021 does not exist"),
    (["run", "--date", "2099-01-01"], "2099-01-01 is after today"),
    (["run", "--date", "2021-05-27", "--exports", "/nonexistent/drop"], "/nonexistent/drop: no such folder"),
    (["run", "--date", "2021-05-27", "--exports", "/etc/passwd"], "/etc/passwd: not a folder"),
    (["backfill", "--start", "2021-05-28", "--end", "2021-05-27", "--exports", "{drop}"],
     "--end 2021-05-27 is before --start 2021-05-28"),
    (["backfill", "--start", "2021-05-27", "--end", "2021-5-28"], "'2021-5-28'"),
    (["backfill", "--start", "2021-05-27", "--end", "2021-05-28", "--exports", "/nonexistent/drop"],
     "/nonexistent/drop"),
    (["warehouse-url", "--bj"], "--bj"),
    (["warehouse-stop", "now"], "now"),
    (["dbt-env", "--bash"], "--bash"),
    (["dbt"], "after --"),
    (["dbt", "--", "buidl"], "buidl"),
    (["psql", "--user"], "'--user'"),
    (["bench", "--scale", "galaxy"], "galaxy"),
    (["generate-sample"], "--out"),
    (["generate-sample", "--out", "{base}/x", "--scale", "0"], "0: must be a number greater than 0"),
    (["generate-sample", "--out", "{base}/x", "--scale", "abc"], "'abc' is not a number"),
    (["generate-sample", "--out", "/proc/nope"], "/proc/nope"),
]


def test_every_command_and_option_is_exercised():
    """Each option of each command appears in a valid and in a wrong case above."""
    for name, parser in subcommands().items():
        valid = [args for args, *_ in VALID if name in args]
        wrong = [args for args, _ in WRONG if name in args]
        assert valid and wrong, f"lapor {name}: no valid or no wrong case"
        for action in options(parser):
            flag = (action.option_strings or ["--"])[0]
            if action.nargs == argparse.REMAINDER:  # the arguments passed on: some valid case has them
                assert any(len(args) > args.index(name) + 1 for args in valid), f"lapor {name}: no arguments"
                continue
            assert any(flag in args for args in valid), f"lapor {name} {flag}: no valid case"
            if action.nargs != 0:  # an option that takes a value
                assert any(flag in args for args in wrong), f"lapor {name} {flag}: no wrong case"
    for name, rest in readme_commands().items():
        for flag in re.findall(r"--[a-z-]+", rest):
            assert any(flag in args for args, *_ in VALID if name in args), f"README: lapor {name} {flag}"


def test_every_command_with_valid_and_wrong_input(user):
    problems = []
    for args, code, told in VALID:
        proc = user(*args)
        shown = " ".join(args)
        if "Traceback" in proc.stderr:
            problems.append(f"lapor {shown}: a traceback:\n{proc.stderr[-2000:]}")
        if code is not None and proc.returncode != code:
            problems.append(f"lapor {shown}: exit {proc.returncode}, expected {code}:\n"
                            f"{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")
        for said in (told,) if isinstance(told, str) else told:
            if said not in proc.stdout + proc.stderr:
                problems.append(f"lapor {shown}: the output does not say {said!r}:\n{proc.stdout[-1500:]}")
        if args[0] == "generate-sample" and "{'" in proc.stdout:
            problems.append(f"lapor {shown}: a raw Python dict in the summary: {proc.stdout}")
    for args, told in WRONG:
        proc = user(*args, timeout=300)
        shown = " ".join(args)
        if proc.returncode != 2:
            problems.append(f"lapor {shown}: exit {proc.returncode}, expected 2:\n{proc.stderr[-1500:]}")
        if "Traceback" in proc.stderr:
            problems.append(f"lapor {shown}: a traceback:\n{proc.stderr[-2000:]}")
        expected = told.replace("{drop}", "").replace("{base}", "")
        if expected not in proc.stderr + proc.stdout:
            problems.append(f"lapor {shown}: the message does not name {expected!r}:\n{proc.stderr[-1500:]}")
    assert not problems, "\n\n".join(problems)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    from lapor import cli

    def broken(args, settings):
        raise KeyError("no such thing")

    monkeypatch.setitem(cli.COMMANDS, "warehouse-stop", broken)
    assert cli.main(["warehouse-stop"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lapor: unexpected error: KeyError: 'no such thing'")
    assert "--debug" in err and "Traceback" not in err and len(err.strip().splitlines()) == 2
    with pytest.raises(KeyError):
        cli.main(["--debug", "warehouse-stop"])


def test_the_lapor_command_exits_quickly_and_loses_nothing(tmp_path):
    """`lapor` ends with `os._exit` instead of Python's object-by-object teardown (4.4 s after a
    run at Jawa Timur scale). What a normal exit owes is still done: output written without a
    newline to a pipe is flushed, the exit handlers run (logging's flush, temporary folders'),
    a thread that is not a daemon finishes its work, and the exit code is the command's."""
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="console_scripts", name="lapor")] == ["lapor.cli:entry"]
    script = (
        "import atexit, sys, threading, time\n"
        "from pathlib import Path\n"
        "from lapor import cli\n"
        "out = Path(sys.argv[1])\n"
        "def command():\n"
        "    print('half a line', end='')\n"
        "    print('on stderr', end='', file=sys.stderr)\n"
        "    atexit.register(lambda: (out / 'exit-handler').write_text('ran'))\n"
        "    def late(): time.sleep(1); (out / 'thread').write_text('done')\n"
        "    threading.Thread(target=late).start()\n"
        "    return 3\n"
        "cli.main = command\n"
        "cli.entry()\n"
        "(out / 'after-entry').write_text('entry returned')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as for a user
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "half a line", "on stderr")
    assert (tmp_path / "exit-handler").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "done"
    assert not (tmp_path / "after-entry").exists()
