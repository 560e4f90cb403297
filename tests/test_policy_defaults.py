"""The policy defaults and the time zone are written once, as the `vars:` of
`dbt_project/dbt_project.yml`: a bare `dbt` run reads them there, `lapor.settings` reads its
defaults from there (and passes the values in force as --vars), the macros give `var()` no
second default, the Compose files leave them empty, and the docs that state a default state
the yml's (issue 15).
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from lapor import settings as settings_module
from lapor.settings import DBT_PROJECT_DIR, PROJECT_ROOT, Settings, SettingError

PROJECT_FILE = DBT_PROJECT_DIR / "dbt_project.yml"
POLICY = ("followup_from", "followup_due_working_day", "followup_sla_working_days", "cuti_bersama_is_holiday",
          "volume_window_working_days", "volume_history_working_days", "volume_min_history_working_days",
          "volume_min_ratio", "volume_min_expected", "stale_export_working_days")


def project_vars() -> dict:
    return yaml.safe_load(PROJECT_FILE.read_text())["vars"]


def env_name(var: str) -> str:
    return f"LAPOR_{var.upper()}"


@pytest.fixture
def no_policy_env(monkeypatch):
    for var in POLICY:
        monkeypatch.delenv(env_name(var), raising=False)


@pytest.fixture
def project_copy(tmp_path, monkeypatch, no_policy_env):
    """dbt_project.yml copied, for a test to change; lapor.settings reads the copy."""
    copy = tmp_path / "dbt_project.yml"
    copy.write_text(PROJECT_FILE.read_text())
    monkeypatch.setattr(settings_module, "DBT_PROJECT_FILE", copy)
    return copy


def set_var(path: Path, name: str, value: str) -> None:
    text, count = re.subn(rf"^(  {name}:) *[^ #\n]+", rf"\g<1> {value}", path.read_text(), flags=re.M)
    assert count == 1, name
    path.write_text(text)


def test_the_settings_defaults_are_the_vars_of_dbt_project_yml(no_policy_env):
    found = Settings.from_env().dbt_vars()
    assert set(found) == set(POLICY) and set(POLICY) <= set(project_vars())
    for name, value in project_vars().items():
        if name in POLICY:
            assert found[name] == value, name
    assert settings_module.TIMEZONE == project_vars()["timezone"]


def test_a_default_changed_in_the_yml_reaches_settings_dbt_and_the_generator(project_copy):
    from lapor.dev.generate import Policy

    set_var(project_copy, "followup_sla_working_days", "7")
    set_var(project_copy, "followup_due_working_day", "3")
    set_var(project_copy, "cuti_bersama_is_holiday", "false")
    set_var(project_copy, "followup_from", '"2020-06-01"')
    set_var(project_copy, "volume_min_expected", "12")
    set_var(project_copy, "stale_export_working_days", "4")
    settings = Settings.from_env()
    assert (settings.followup_sla_working_days, settings.followup_due_working_day) == (7, 3)
    assert settings.cuti_bersama_is_holiday is False
    assert settings.followup_from == date(2020, 6, 1)
    assert settings.dbt_vars()["followup_sla_working_days"] == 7
    assert settings.dbt_vars()["volume_min_expected"] == 12.0
    assert settings.dbt_vars()["stale_export_working_days"] == 4
    assert Policy.of(settings) == Policy(3, 7, False)
    # a Settings built in code (tests, tools) takes the same defaults
    built = Settings(home=Path("/tmp"), warehouse_url=None, exports_dir=Path("/tmp"), smtp_url=None,
                     coordinator_email="a@b", mail_from="a@b", registry_path=Path("/tmp"),
                     followup_from=date(2020, 1, 1), followup_due_working_day=5, followup_sla_working_days=5,
                     cuti_bersama_is_holiday=True, report_base_url=None)
    assert (built.volume_min_expected, built.stale_export_working_days) == (12.0, 4)


def test_the_environment_still_overrides_the_default(project_copy, monkeypatch):
    set_var(project_copy, "followup_sla_working_days", "7")
    monkeypatch.setenv("LAPOR_FOLLOWUP_SLA_WORKING_DAYS", "9")
    assert Settings.from_env().followup_sla_working_days == 9
    monkeypatch.setenv("LAPOR_FOLLOWUP_SLA_WORKING_DAYS", "")  # Compose passes an unset one as empty
    assert Settings.from_env().followup_sla_working_days == 7


def test_a_missing_or_wrong_var_is_a_clear_error(project_copy):
    text = project_copy.read_text()
    project_copy.write_text(re.sub(r"^  followup_sla_working_days:.*\n", "", text, flags=re.M))
    with pytest.raises(SettingError, match=r"dbt_project\.yml: the var 'followup_sla_working_days' is missing"):
        Settings.from_env()
    project_copy.write_text(text.replace("followup_due_working_day: 5", "followup_due_working_day: five"))
    with pytest.raises(SettingError, match=r"'followup_due_working_day' is 'five', expected a int"):
        Settings.from_env()


def test_no_macro_or_model_gives_a_var_a_second_default():
    sql = [*(DBT_PROJECT_DIR / "macros").rglob("*.sql"), *(DBT_PROJECT_DIR / "models").rglob("*.sql"),
           *(DBT_PROJECT_DIR / "models").rglob("*.yml"), *(DBT_PROJECT_DIR / "tests").rglob("*.sql")]
    used = set()
    for path in sql:
        text = path.read_text()
        assert not re.search(r"\bvar\(\s*['\"]\w+['\"]\s*,", text), f"{path.name}: var() with a default"
        used |= set(re.findall(r"\bvar\(\s*['\"](\w+)['\"]\s*\)", text))
    assert set(POLICY) | {"timezone"} <= used
    assert used <= set(project_vars()), f"vars without a value in dbt_project.yml: {used - set(project_vars())}"


def test_the_time_zone_is_written_once():
    """Only dbt_project.yml names the zone: Python reads settings.TIMEZONE, SQL `wib_date()` and
    the semantic model the var `timezone`."""
    zone = project_vars()["timezone"]
    places = [*(PROJECT_ROOT / "plugins" / "lapor").rglob("*.py"), *(PROJECT_ROOT / "plugins" / "lapor").rglob("*.sql"),
              *(PROJECT_ROOT / "plugins" / "lapor").rglob("*.j2"), *(PROJECT_ROOT / "dags").rglob("*.py"),
              *(DBT_PROJECT_DIR / "macros").rglob("*.sql"), *(DBT_PROJECT_DIR / "models").rglob("*.sql"),
              *(DBT_PROJECT_DIR / "models").rglob("*.yml"), *(PROJECT_ROOT / "expectations").rglob("*.json")]
    assert [p.name for p in places if zone in p.read_text(errors="replace")] == []
    assert "var('timezone')" in (DBT_PROJECT_DIR / "macros" / "working_days.sql").read_text()
    assert 'var("timezone")' in (DBT_PROJECT_DIR / "models" / "marts" / "_semantic_models.yml").read_text()


def test_compose_and_env_example_leave_the_policy_defaults_to_the_yml():
    compose = (PROJECT_ROOT / "docker-compose.yml").read_text()
    example = (PROJECT_ROOT / ".env.example").read_text()
    for var in POLICY:
        name = env_name(var)
        assert re.search(rf"^    {name}: \$\{{{name}:-\}}$", compose, flags=re.M), name
        assert re.search(rf"^{name}=$", example, flags=re.M), name


def _stated(text: str, name: str) -> list[str]:
    """The values the text states for setting `name` as its default."""
    n = re.escape(f"`{name}`")
    found = re.findall(rf"^\| {n} \| `([^`]+)` \|", text, flags=re.M)                      # README's table
    found += re.findall(rf"{n}(?:th)? \((?:default )?([0-9][0-9.\-]*|true|false)", text)   # `X` (5), `X`th (5th)
    found += re.findall(rf"{n}, default `([^`]+)`", text)                                  # `X`, default `true`
    found += re.findall(rf"\b([0-9]+)(?:st|nd|rd|th)? working days?[^`(|]{{0,20}}\({n}\)", text)  # 5 working days (`X`)
    return found


def _same(var: str, stated: str, value: object) -> bool:
    if var == "followup_from":
        return stated[:7] == str(value)[:7]
    if isinstance(value, bool):
        return stated == str(value).lower()
    return float(stated.rstrip(".")) == float(value)


def test_the_docs_state_the_defaults_of_the_yml():
    docs = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
    values = project_vars()
    checked = 0
    for path in docs:
        text = path.read_text()
        for var in POLICY:
            for stated in _stated(text, env_name(var)):
                assert _same(var, stated, values[var]), \
                    f"{path.name} states {env_name(var)} = {stated}; dbt_project.yml has {values[var]!r}"
                checked += 1
        for zone in re.findall(r"WIB \(([A-Za-z_]+/[A-Za-z_]+)", text):
            assert zone == values["timezone"], f"{path.name} states the time zone {zone}"
            checked += 1
    assert checked >= 30  # the README's table alone states ten
