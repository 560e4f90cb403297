"""The project's documentation is its contract, and the code keeps it.

`docs/inputs.md` (what agencies deliver), `docs/marts.md` (what the warehouse holds),
`docs/checks.md` (what is checked) and `docs/domain.md` are what a user reads; each test here
holds one of their tables against the code that does the work: the readers' alias tables,
status texts, yes/no values, date forms and reason codes; the dbt models' columns and the
quality tables' DDL; the checks suite and the e-mails' labels. The links of the README and the
docs stay inside the project.

None of these needs a warehouse. The same pages against a warehouse built by a real night
(tables, columns, types, the role `bi_reader`, the checks recorded) are checked in
`tests/test_seed_scenario.py` (`documented.warehouse_problems`), which builds one anyway.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from documented import DOCS, ROOT, TYPES, code, documented_checks, documented_tables, sections

MARTS_MODELS = ROOT / "dbt_project" / "models" / "marts"
SCHEMA_SQL = ROOT / "plugins" / "lapor" / "sql" / "schema.sql"


@pytest.fixture(scope="module")
def inputs() -> dict[str, list[list[str]]]:
    return sections(DOCS / "inputs.md")


# --- docs/marts.md ----------------------------------------------------------------------

def model_columns() -> dict[str, list[str]]:
    """Every model of dbt_project/models/marts and the columns its .yml describes."""
    described: dict[str, list[str]] = {}
    for path in sorted(MARTS_MODELS.glob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            described[model["name"]] = [c["name"] for c in model.get("columns", [])]
    models = {p.stem for p in MARTS_MODELS.glob("*.sql")}
    assert models <= described.keys(), f"mart models without a .yml: {sorted(models - described.keys())}"
    return {name: described[name] for name in sorted(models)}


def test_every_mart_is_documented_with_the_columns_of_its_model():
    documented = {t.removeprefix("marts."): cols for t, cols in documented_tables().items() if t.startswith("marts.")}
    models = model_columns()
    assert not models.keys() - documented.keys(), f"marts not in docs/marts.md: {sorted(models.keys() - documented.keys())}"
    assert not documented.keys() - models.keys(), f"docs/marts.md documents marts no model builds: " \
        f"{sorted(documented.keys() - models.keys())}"
    for name, columns in models.items():
        assert list(documented[name]) == columns, (
            f"marts.{name}: docs/marts.md documents {list(documented[name])}, its .yml {columns}")


def test_every_documented_type_is_one_of_the_page_s_types():
    for table, columns in documented_tables().items():
        for column, kind in columns.items():
            assert kind in TYPES, f"{table}.{column}: type {kind!r} is not one of {sorted(TYPES)}"


def quality_ddl() -> dict[str, dict[str, str]]:
    """`quality.<table>` -> {column: SQL type} from the warehouse's DDL (create and alter table)."""
    text = SCHEMA_SQL.read_text()
    tables: dict[str, dict[str, str]] = {}
    for name, body in re.findall(r"create table if not exists (quality\.\w+) \((.*?)\n\);", text, flags=re.S):
        columns = {}
        for line in body.splitlines():
            line = line.split("--")[0].strip()
            match = re.match(r"^([a-z_0-9]+)\s+([a-z]+(?: with time zone)?)", line)
            if match and match.group(1) not in {"primary", "unique", "check", "constraint", "foreign"}:
                columns[match.group(1)] = match.group(2)
        tables[name] = columns
    for name, column, kind in re.findall(r"alter table (quality\.\w+) add column if not exists (\w+) (\w+)", text):
        tables[name][column] = kind
    return tables


SQL_TYPES = {"text": "text", "date": "date", "timestamptz": "timestamp", "integer": "integer", "bigint": "integer",
             "boolean": "boolean", "jsonb": "jsonb", "numeric": "decimal"}


def test_the_documented_quality_tables_are_the_warehouse_s_ddl():
    ddl = quality_ddl()
    documented = {t: cols for t, cols in documented_tables().items() if t.startswith("quality.")}
    assert {"quality.check_results", "quality.rejected_files", "quality.rejected_rows"} <= documented.keys()
    for table, columns in documented.items():
        assert table in ddl, f"{table} is documented but schema.sql does not create it"
        assert list(columns) == list(ddl[table]), f"{table}: documented {list(columns)}, created {list(ddl[table])}"
        for column, kind in columns.items():
            assert SQL_TYPES.get(ddl[table][column]) == kind, \
                f"{table}.{column}: documented as {kind}, created as {ddl[table][column]}"


def test_the_bi_reader_role_is_documented_as_the_warehouse_creates_it():
    from lapor.warehouse import BI_ROLE

    page = (DOCS / "marts.md").read_text()
    assert BI_ROLE == "bi_reader" and "## The role bi_reader" in page
    assert "`LAPOR_BI_STATEMENT_TIMEOUT`" in page and "`LAPOR_BI_PASSWORD`" in page


# --- docs/checks.md ---------------------------------------------------------------------

def test_the_documented_checks_are_the_suite_in_its_order():
    from lapor.quality.checks import QUERIES, load_suite

    suite = [(e["meta"]["check_name"], e["meta"]["severity"]) for e in load_suite()]
    documented = [(c["check_name"], c["severity"]) for c in documented_checks()]
    assert documented == suite, "docs/checks.md and dbt_project/seeds/coordinator_checks.csv disagree"
    assert set(QUERIES) == {name for name, _ in suite}


def test_the_documented_labels_are_the_e_mails_labels():
    """The e-mails' labels (_labels.j2's `check`) are the seed's, coordinator_checks.csv."""
    from lapor.alerts.compose import _environment

    template = _environment("text").from_string('{% import "_labels.j2" as labels %}{{ labels.check(name) }}')
    labels = {c["check_name"]: template.render(name=c["check_name"]) for c in documented_checks()}
    for check in documented_checks():
        assert labels.get(check["check_name"]) == check["label"], \
            f"{check['check_name']}: docs/checks.md says {check['label']!r}, the e-mails {labels.get(check['check_name'])!r}"


def test_checks_page_names_the_settings_the_checks_use():
    page = (DOCS / "checks.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for setting in re.findall(r"`(LAPOR_[A-Z_]+)`", page):
        assert f"`{setting}`" in readme, f"docs/checks.md names {setting}, which the README does not document"
    for setting in ("LAPOR_FOLLOWUP_SLA_WORKING_DAYS", "LAPOR_REMINDER_DAYS", "LAPOR_COORDINATOR_EMAIL"):
        assert f"`{setting}`" in page


# --- docs/inputs.md ---------------------------------------------------------------------

@pytest.mark.parametrize("section, kind", [("Complaint export columns", "complaints"),
                                           ("Follow-up report columns", "followup")])
def test_the_documented_columns_and_aliases_are_the_readers(inputs, section, kind):
    from lapor.readers import columns

    aliases = columns.COMPLAINT_ALIASES if kind == "complaints" else columns.FOLLOWUP_ALIASES
    required = columns.COMPLAINT_REQUIRED if kind == "complaints" else columns.FOLLOWUP_REQUIRED
    rows = inputs[section]
    documented = {code(r[0])[0]: tuple(code(r[1])) for r in rows}
    assert list(documented) == list(aliases), f"{section}: columns {list(documented)}, readers {list(aliases)}"
    for column, names in aliases.items():
        assert documented[column] == names, f"{section}, {column}: documented {documented[column]}, readers {names}"
    documented_required = [code(r[0])[0] for r in rows if r[2] == "yes"]
    assert documented_required == list(required)
    assert all(r[2] in {"yes", "no"} for r in rows)


def test_the_documented_statuses_are_the_vocabulary_seeds(inputs):
    """docs/inputs.md#statuses against dbt_project/seeds/ (lapor.vocabulary), which the readers,
    dbt, the suites and the generators read (tests/test_vocabulary.py)."""
    from lapor import vocabulary
    from lapor.readers.values import STATUSES, normalize_status

    words = vocabulary.current()
    rows = inputs["Statuses"]
    documented = {code(r[0])[0]: tuple(code(r[1])) for r in rows}
    assert documented == STATUSES == words.status_texts
    for texts in documented.values():
        for text in texts:  # any case and spacing
            assert normalize_status("  " + text.upper().replace(" ", "   ") + " ") is not None
    assert {code(r[0])[0] for r in rows if r[2] == "open"} == set(words.open_statuses)
    assert {code(r[0])[0] for r in rows if r[2] == "closed"} == set(words.closed_statuses)
    for doc in ("inputs.md", "domain.md"):
        assert "dbt_project/seeds/" in (DOCS / doc).read_text(), f"docs/{doc} does not say where the vocabulary lives"


def test_the_documented_yes_no_values_are_the_readers(inputs):
    from lapor.readers.values import parse_bool

    (row,) = inputs["Yes/no values"]
    yes, no = code(row[0]), code(row[1])
    for text in yes:
        assert parse_bool(text) is True and parse_bool(text.upper()) is True, text
    for text in no:
        assert parse_bool(text) is False and parse_bool(text.upper()) is False, text
    from lapor.readers import values

    assert {t.casefold() for t in yes} == values._TRUE and {t.casefold() for t in no} == values._FALSE


def test_every_documented_date_form_is_read_day_first_in_wib(inputs):
    from lapor.readers.values import parse_datetime

    examples = [text for row in inputs["Dates and times"] for text in code(row[1])]
    assert len(examples) >= 10
    for text in examples:
        parsed = parse_datetime(text)
        assert parsed is not None and parsed.utcoffset().total_seconds() == 7 * 3600, text
        assert (parsed.year, parsed.month, parsed.day) == (2021, 5, 27), text
    assert parse_datetime("05/06/2021").month == 6  # day first
    page = (DOCS / "inputs.md").read_text()
    assert "`05/06/2021` is 5 June" in page


@pytest.mark.parametrize("section, codes", [
    ("Rows that cannot load", "rows"),
    ("Files that cannot be read", "files"),
])
def test_every_reason_code_is_documented(inputs, section, codes):
    from lapor.readers import FILE_REASON_CODES, ROW_REASON_CODES

    expected = list(ROW_REASON_CODES) + ["duplicate_tracking_id"] if codes == "rows" else list(FILE_REASON_CODES)
    documented = [code(r[0])[0] for r in inputs[section]]
    assert sorted(documented) == sorted(expected), f"{section}: documented {documented}, code {expected}"


def test_the_documented_file_names_are_the_drop_folder_s(inputs):
    from lapor.sources.folder import COMPLAINTS_NAME, FOLLOWUP_NAME

    assert COMPLAINTS_NAME.fullmatch("2021-05-27.csv") and FOLLOWUP_NAME.fullmatch("2021-04_2021-05-25.xlsx")
    names = {r[0]: code(r[1])[0] for r in inputs["The drop folder"]}
    assert names == {"complaints export": "complaints/<YYYY-MM-DD>.<ext>",
                     "follow-up report": "followup/<YYYY-MM>_<YYYY-MM-DD>.<ext>"}


# --- links ------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for line in path.read_text().splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match.group(1).lower())
            out.add(text.replace(" ", "-"))
    return out


@pytest.mark.parametrize("page", ["README.md", *sorted(f"docs/{p.name}" for p in DOCS.glob("*.md"))])
def test_links_point_at_files_of_the_project(page):
    path = ROOT / page
    for target in LINK.findall(path.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        assert resolved.is_relative_to(ROOT), f"{page}: the link {target} leaves the project"
        assert resolved.exists(), f"{page}: the link {target} points at nothing"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page}: {target}: no heading with that anchor"
