"""The words of a finding are written once (issue 15):

- a severity's Bahasa name and the order of severities: `dbt_project/seeds/severities.csv`,
  read by dbt (`macros/severity_label.sql` → `fct_check_results`) and by `lapor.vocabulary`
  (`_labels.j2` in the e-mails and the report, `lapor.formatting.severity_rank`);
- what a check's finding is about (its subject and the subject's Bahasa name): the columns
  `subject` and `subject_label` of `dbt_project/seeds/coordinator_checks.csv`, read by the view
  `quality.findings` (written from the seed by `lapor.warehouse.ensure_schema`) and by the
  e-mails' code (`lapor.vocabulary.finding_subject`).

Each test changes a copy of a seed and shows every consumer follow.
"""
from __future__ import annotations

import csv
import shutil
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from lapor import vocabulary
from lapor.settings import DBT_PROJECT_DIR, EXPECTATIONS_DIR

PACKAGE = Path(vocabulary.__file__).resolve().parent
SEVERITY_SEED = DBT_PROJECT_DIR / "seeds" / vocabulary.SEVERITIES_FILE


def seed_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def severity_labels_rendered(code: str) -> set[str]:
    """What `_labels.j2`'s `severity` prints for `code` in the e-mails (HTML, text) and the report."""
    from lapor.alerts.compose import _environment
    from lapor.report import _environment as report_environment

    return {env.from_string('{% import "_labels.j2" as labels %}{{ labels.severity(code) }}').render(code=code)
            for env in (_environment("html"), _environment("text"), report_environment())}


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """The dbt project copied (its seeds for a test to change), read by dbt (lapor.transform)
    and by lapor.vocabulary."""
    from lapor import transform

    folder = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, folder,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"))
    monkeypatch.setattr(transform, "DBT_PROJECT_DIR", folder)
    monkeypatch.setattr(vocabulary, "SEEDS_DIR", folder / "seeds")
    vocabulary.reload()
    yield folder
    monkeypatch.undo()
    vocabulary.reload()


# --- severities ---------------------------------------------------------------------------

def test_the_labels_and_the_order_of_severities_are_the_seeds():
    from lapor.formatting import severity_rank

    rows = sorted(seed_rows(SEVERITY_SEED), key=lambda r: int(r["position"]))
    assert [r["severity"] for r in rows] == ["error", "high", "medium", "low"]
    for r in rows:
        assert severity_labels_rendered(r["severity"]) == {r["label_id"]}
    assert sorted((r["severity"] for r in rows), key=severity_rank) == [r["severity"] for r in rows]
    assert severity_rank("unknown") == severity_rank(None) == len(rows)
    assert severity_labels_rendered("unknown") == {"unknown"}
    assert vocabulary.check_severities() == ("high", "medium", "low")


def test_no_other_file_spells_a_severity_label():
    labels = {r["label_id"] for r in seed_rows(SEVERITY_SEED)}
    places = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.j2"), *PACKAGE.rglob("*.sql"),
              *(DBT_PROJECT_DIR / "models").rglob("*.sql"), *(DBT_PROJECT_DIR / "macros").rglob("*.sql"),
              *EXPECTATIONS_DIR.rglob("*.json")]
    places = [p for p in places if not p.is_relative_to(PACKAGE / "dev")]  # the generator's "sedang" is a status dialect
    found = {(p.name, label) for p in places for label in labels for quote in "'\""
             if f"{quote}{label}{quote}" in p.read_text(encoding="utf-8", errors="replace")}
    assert found == set()
    assert "ref('severities')" in (DBT_PROJECT_DIR / "macros" / "severity_label.sql").read_text()


def test_a_severity_changed_in_the_seed_changes_the_mails_the_report_the_order_and_the_mart(
        project_copy, scratch):
    from lapor.formatting import severity_rank
    from lapor.transform import run_dbt

    settings, url, _ = scratch
    rows = seed_rows(project_copy / "seeds" / vocabulary.SEVERITIES_FILE)
    for r in rows:
        if r["severity"] == "high":
            r["label_id"] = "sangat mendesak"
        if r["severity"] in ("medium", "low"):   # low now comes before medium
            r["position"] = {"medium": "3", "low": "2"}[r["severity"]]
    write_rows(project_copy / "seeds" / vocabulary.SEVERITIES_FILE, rows)
    vocabulary.reload()

    assert severity_labels_rendered("high") == {"sangat mendesak"}
    assert sorted(["medium", "low", "high", "error"], key=severity_rank) == ["error", "high", "low", "medium"]

    day = date(2021, 5, 27)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.cursor().executemany(
            "insert into quality.check_results (run_date, check_name, agency_code, passed, severity, details, facts) "
            "values (%s, %s, %s, %s, %s, %s, %s)",
            [(day, "export_missing", "35.05", False, "high", "no export", Jsonb({"export_day": "2021-05-27"})),
             (day, "sk_missing", "35.05", True, "medium", "ok", Jsonb({})),
             (day, "followup_overdue", "35.05", False, "error", "the query raised", Jsonb({}))])
    for command in (["seed", "--select", "severities coordinator_checks"], ["run", "--select", "fct_check_results"]):
        result = run_dbt(command, url, settings)
        assert result.success, result.failures
    with psycopg.connect(url) as conn:
        found = dict(conn.execute("select severity, severity_label from marts.fct_check_results").fetchall())
    assert found == {"high": "sangat mendesak", "medium": "sedang", "error": "galat pemeriksaan"}


def test_a_check_may_only_have_a_check_severity(tmp_path, monkeypatch):
    folder = tmp_path / "seeds"
    shutil.copytree(DBT_PROJECT_DIR / "seeds", folder)
    rows = seed_rows(folder / vocabulary.CHECKS_FILE)
    rows[0]["severity"] = "error"
    write_rows(folder / vocabulary.CHECKS_FILE, rows)
    monkeypatch.setattr(vocabulary, "SEEDS_DIR", folder)
    with pytest.raises(vocabulary.VocabularyError, match="severity must be one of high, medium, low"):
        vocabulary.checks()
