"""The coordinator's checks are written once: name, severity, order and Bahasa label are the rows
of `dbt_project/seeds/coordinator_checks.csv`. The GX suite (lapor.quality.checks.load_suite),
the e-mails' and the report's labels (`_labels.j2` through lapor.vocabulary) and dbt
(macros/check_label.sql, by ref()) read that seed; no other file spells a check's label, and a
new row in a copy of the seed is all a new check's label and severity need.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from lapor import vocabulary
from lapor.settings import DBT_PROJECT_DIR, EXPECTATIONS_DIR

SEED = DBT_PROJECT_DIR / "seeds" / vocabulary.CHECKS_FILE
PACKAGE = Path(vocabulary.__file__).resolve().parent


def rows() -> list[dict[str, str]]:
    with SEED.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_suite_the_labels_and_the_order_come_from_the_seed():
    from lapor.alerts.compose import _environment
    from lapor.quality.checks import QUERIES, load_suite

    seed = sorted(rows(), key=lambda r: int(r["position"]))
    suite = load_suite()
    assert [(e["meta"]["check_name"], e["meta"]["severity"]) for e in suite] == \
        [(r["check_name"], r["severity"]) for r in seed]
    assert [e["kwargs"]["column"] for e in suite] == [r["check_name"] for r in seed]
    assert set(QUERIES) == {r["check_name"] for r in seed}
    template = _environment("text").from_string('{% import "_labels.j2" as labels %}{{ labels.check(name) }}')
    for r in seed:
        assert template.render(name=r["check_name"]) == r["label_id"]


def test_no_other_file_spells_a_checks_label():
    """The Bahasa labels live in the seed only: not in the templates, the macros, the models,
    the suites or the Python package."""
    labels = {r["label_id"] for r in rows()}
    places = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.j2"), *PACKAGE.rglob("*.sql"),
              *(DBT_PROJECT_DIR / "models").rglob("*.sql"), *(DBT_PROJECT_DIR / "macros").rglob("*.sql"),
              *EXPECTATIONS_DIR.rglob("*.json")]
    found = {(str(p.relative_to(p.parents[2])), label) for p in places for label in labels
             for quote in "'\""  # as a literal (a finding's sentence may begin with the same words)
             if f"{quote}{label}{quote}" in p.read_text(encoding="utf-8", errors="replace")}
    assert found == set()


def test_the_dbt_label_reads_the_seed_by_ref():
    macro = (DBT_PROJECT_DIR / "macros" / "check_label.sql").read_text()
    assert "ref('coordinator_checks')" in macro
    assert not any(r["check_name"] in macro for r in rows())


@pytest.fixture
def seeds_with_a_new_check(tmp_path, monkeypatch):
    folder = tmp_path / "seeds"
    shutil.copytree(DBT_PROJECT_DIR / "seeds", folder)
    with (folder / vocabulary.CHECKS_FILE).open("a", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerow(
            ["backlog_spike", 11, "low", "Tunggakan melonjak", "The agency's backlog doubled within a week."])
    monkeypatch.setattr(vocabulary, "SEEDS_DIR", folder)
    yield folder


def test_a_new_row_in_the_seed_is_all_a_new_check_needs_for_its_label_severity_and_order(seeds_with_a_new_check):
    from lapor.alerts.compose import _environment
    from lapor.quality.checks import load_suite
    from lapor.report import _environment as report_environment

    last = load_suite()[-1]
    assert last["meta"] | {"description": None} == {
        "check_name": "backlog_spike", "severity": "low", "order": 11, "label": "Tunggakan melonjak",
        "description": None}
    assert last["kwargs"] == {"column": "backlog_spike", "value_set": [False]}
    for env in (_environment("html"), _environment("text"), report_environment()):
        template = env.from_string('{% import "_labels.j2" as labels %}{{ labels.check("backlog_spike") }}')
        assert template.render() == "Tunggakan melonjak"


def test_a_seed_row_with_an_unknown_severity_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copy(DBT_PROJECT_DIR / "seeds" / vocabulary.SEVERITIES_FILE, folder)  # the severities a check may have
    (folder / vocabulary.CHECKS_FILE).write_text(
        "check_name,position,severity,label_id,description\nx,1,urgent,X,x\n", encoding="utf-8")
    monkeypatch.setattr(vocabulary, "SEEDS_DIR", folder)
    with pytest.raises(vocabulary.VocabularyError, match="urgent"):
        vocabulary.checks()
