"""The README documents every setting the code reads."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def settings_used_by_the_code() -> set[str]:
    """Every LAPOR_* name the runtime code (plugins/lapor, dags/) mentions, but those the pipeline
    sets itself for dbt (LAPOR_DBT_*); the per-agency tokens as `LAPOR_HTTP_TOKEN_<code>`."""
    used: set[str] = set()
    for folder in ("plugins", "dags"):
        for path in (ROOT / folder).rglob("*.py"):
            if "dev" in path.relative_to(ROOT).parts:  # the sample generator and the benchmark
                continue
            used |= set(re.findall(r"\bLAPOR_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    used = {u for u in used if not u.startswith("LAPOR_DBT_")}  # set by the pipeline for dbt itself
    return {"LAPOR_HTTP_TOKEN_<code>" if u.startswith("LAPOR_HTTP_TOKEN_") else u for u in used}


def settings_table() -> list[str]:
    """The variables of the README's "Settings" table, in its order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return [m for m in re.findall(r"^\| `(LAPOR_[A-Za-z0-9_<>]+)` \|", section, flags=re.M)]


def test_every_lapor_setting_is_in_the_readme():
    documented = settings_table()
    missing = sorted(settings_used_by_the_code() - set(documented))
    assert not missing, f"settings the code reads and the README's Settings table does not document: {missing}"


def test_every_documented_setting_is_read_by_the_code():
    documented = settings_table()
    assert "LAPOR_HOME" in documented and "LAPOR_HTTP_TOKEN_<code>" in documented, documented
    assert len(documented) == len(set(documented)), "a setting is documented twice"
    unused = sorted(set(documented) - settings_used_by_the_code())
    assert not unused, f"settings the README documents and no code reads: {unused}"


def test_readme_gives_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def test_readme_gives_the_next_steps_after_the_demo_and_for_production():
    """What a newcomer looks for after `make demo` (issue 18): the sample drop folder by name, a
    SQL shell, dbt by hand, the local Airflow runs, the logs; and where production is described."""
    readme = (ROOT / "README.md").read_text()
    after = readme.split("\n## After the demo\n", 1)[1].split("\n## ", 1)[0]
    for step in (".lapor/sample-exports", "lapor run --date", "lapor psql", "lapor dbt -- build",
                 "airflow dags list-runs lapor_nightly", ".lapor/logs/lapor.log", "start the embedded warehouse when it is stopped"):
        assert step in after, step
    production = readme.split("\n## Production\n", 1)[1].split("\n## ", 1)[0]
    for link in ("(docs/operations.md)", "(docker-compose.yml)", "(.env.example)"):
        assert link in production, link
        assert (ROOT / link.strip("()")).exists(), link
    assert "`AIRFLOW_*` variables already set in the shell win" in readme
    # metrics are not promised through a tool that is not installed here
    assert "(MetricFlow)" not in readme
