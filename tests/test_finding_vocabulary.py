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
import re
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


# --- what a finding is about ----------------------------------------------------------------

DAY = date(2021, 5, 27)
APRIL = {"period": "2021-04-01", "label": "April 2021", "due_date": "2021-05-07"}
MARCH = {"period": "2021-03-01", "label": "Maret 2021", "due_date": "2021-04-08"}


def flag(url: str, rows: list[tuple[str, dict]]) -> None:
    """quality.check_results rows of agency 35.05 flagged on DAY: (check, facts)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into ref.agencies (agency_code, agency_name, agency_type) "
                     "values ('35.05', 'Kabupaten Blitar', 'kabupaten') on conflict do nothing")
        conn.cursor().executemany(
            "insert into quality.check_results (run_date, check_name, agency_code, passed, severity, details, facts) "
            "values (%s, %s, '35.05', false, 'high', 'flagged', %s)",
            [(DAY, check, Jsonb(facts)) for check, facts in rows])


def subjects(url: str) -> set[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        return set(conn.execute("select check_name, subject, subject_label from quality.findings").fetchall())


def test_the_subject_of_each_finding_is_the_seeds(scratch):
    """What quality.findings (and so marts.fct_findings, the e-mails and the report) says a
    finding is about, for every check of the seed, a month of a missing report and a check the
    seed does not know."""
    _, url, _ = scratch
    checks = [c for c in vocabulary.checks() if c.name != "followup_report_late"]
    flag(url, [(c.name, {"months": [APRIL, MARCH]} if c.name == "followup_report_missing" else {}) for c in checks]
         + [("backlog_spike", {})])
    expected = {(c.name, c.subject, c.subject_label) for c in checks if c.name != "followup_report_missing"}
    assert subjects(url) == expected | {
        ("followup_report_missing", "report:2021-04", "Laporan April 2021"),
        ("followup_report_missing", "report:2021-03", "Laporan Maret 2021"),
        ("backlog_spike", "check", "backlog_spike")}
    assert ("sk_missing", "sk", "SK pengelola pengaduan") in expected
    assert vocabulary.finding_subject("followup_report_missing", "2021-04") == "report:2021-04"
    assert vocabulary.subject_month("followup_report_missing", "report:2021-04") == "2021-04"
    assert vocabulary.finding_subject("followup_report_late") is None


def test_a_subject_changed_in_the_seed_changes_the_view_and_the_mails(project_copy, scratch):
    from lapor.alerts.findings import findings_around
    from lapor.warehouse import ensure_schema

    settings, url, _ = scratch
    seed = project_copy / "seeds" / vocabulary.CHECKS_FILE
    rows = seed_rows(seed)
    for r in rows:
        if r["check_name"] == "sk_missing":
            r["subject_label"] = "Surat keputusan pengelola"
        if r["check_name"] == "followup_report_missing":
            r["subject"], r["subject_label"] = "bulan:{month}", "Laporan bulan {month_label}"
    write_rows(seed, rows)
    vocabulary.reload()
    ensure_schema(url, settings)   # every run: the view follows the seed

    flag(url, [("sk_missing", {}), ("followup_report_missing", {"months": [APRIL, MARCH]})])
    assert subjects(url) == {("sk_missing", "sk", "Surat keputusan pengelola"),
                             ("followup_report_missing", "bulan:2021-04", "Laporan bulan April 2021"),
                             ("followup_report_missing", "bulan:2021-03", "Laporan bulan Maret 2021")}
    with psycopg.connect(url) as conn:
        found = {f.subject: f for f in findings_around(conn, settings, DAY)}
    # the e-mails' code reads the same subject: each month's finding carries its own month
    assert [m["period"] for m in found["bulan:2021-04"].facts["months"]] == ["2021-04-01"]
    assert [m["period"] for m in found["bulan:2021-03"].facts["months"]] == ["2021-03-01"]
    assert found["sk"].subject_label == "Surat keputusan pengelola"
    assert vocabulary.finding_subject("followup_report_missing", "2021-04") == "bulan:2021-04"


def test_no_other_file_spells_a_finding_subject():
    """The subjects and their Bahasa names live in the seed only: the view's SQL gets them from
    it, and the per-month placeholders are lapor.vocabulary's."""
    checks = [c for c in vocabulary.checks() if c.subject]
    literals = {c.subject_label for c in checks} | {c.subject for c in checks if set(c.subject) & set("-:")}
    literals |= {c.subject.split(":")[0] + ":" for c in checks if ":" in c.subject}  # 'report:' || month
    # (a one-word subject such as 'export' or 'overdue' is a common word elsewhere)
    places = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.j2"), *PACKAGE.rglob("*.sql"),
              *(DBT_PROJECT_DIR / "models").rglob("*.sql"), *(DBT_PROJECT_DIR / "macros").rglob("*.sql")]
    found = {(p.name, text) for p in places for text in literals for quote in "'\""
             if f"{quote}{text}{quote}" in p.read_text(encoding="utf-8", errors="replace")}
    assert found == set()
    schema = (PACKAGE / "sql" / "schema.sql").read_text()
    assert schema.count("/*check_subjects*/") == 1
    assert f"'{vocabulary.SUBJECT_MONTH}'" in schema and f"'{vocabulary.SUBJECT_MONTH_LABEL}'" in schema
    assert "'report:'" not in schema and "\"report:\"" not in (PACKAGE / "alerts" / "findings.py").read_text()


def test_docs_state_the_seeds_subjects():
    """docs/checks.md's table of subjects says what the seed says, for every check."""
    text = (DBT_PROJECT_DIR.parent / "docs" / "checks.md").read_text()
    table = text[text.index("| check | subject | a new finding when |"):].split("\n\n")[0]
    stated = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        subject = re.match(r"`([^`]+)`", cells[1])
        for name in re.findall(r"`(\w+)`", cells[0]):
            stated[name] = subject.group(1) if subject else ""
    seed = {c.name: c.subject.replace(vocabulary.SUBJECT_MONTH, "YYYY-MM") for c in vocabulary.checks()}
    assert stated == seed
    marts = (DBT_PROJECT_DIR.parent / "docs" / "marts.md").read_text()
    row = next(line for line in marts.splitlines() if line.startswith("| `subject` | text |"))
    assert set(re.findall(r"`([^`]+)`", row.split("|")[3])) == (set(seed.values()) - {""}) | {"check"}
