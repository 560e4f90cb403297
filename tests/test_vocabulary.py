"""One vocabulary: the statuses and classifications are written once, in the dbt seeds
(`dbt_project/seeds/`), and every consumer reads them there.

Each consumer's status set is compared with the seed's, read here with nothing but `csv`;
adding an export text is one row in a copy of the seeds, and a file using it then loads, by
the Python readers and by the loader's fast path alike.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import date
from pathlib import Path

import psycopg
import pytest
import yaml

from lapor import vocabulary
from lapor.settings import DBT_PROJECT_DIR, EXPECTATIONS_DIR

SEEDS = DBT_PROJECT_DIR / "seeds"


def seed(name: str) -> list[dict[str, str]]:
    with (SEEDS / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


STATUSES = [r["code"] for r in seed("complaint_statuses.csv")]
OPEN = [r["code"] for r in sorted(seed("complaint_statuses.csv"), key=lambda r: int(r["position"]))
        if r["is_open"] == "true"]
CLASSIFICATIONS = [r["code"] for r in seed("classifications.csv")]


def test_the_seeds_are_the_vocabulary():
    words = vocabulary.current()
    assert list(words.status_codes) == STATUSES
    assert set(words.open_statuses) == set(OPEN) and set(words.closed_statuses) == set(STATUSES) - set(OPEN)
    texts: dict[str, list[str]] = {}
    for r in seed("complaint_status_aliases.csv"):
        texts.setdefault(r["status"], []).append(r["export_text"])
    assert words.status_texts == {k: tuple(v) for k, v in texts.items()}
    assert list(words.classification_codes) == CLASSIFICATIONS


def test_every_consumer_s_status_set_is_the_seed_s():
    from lapor.dev import generate
    from lapor.quality.suites import load_suite
    from lapor.readers.values import STATUSES as READER_STATUSES, normalize_classification, normalize_status

    # the readers
    assert list(READER_STATUSES) == STATUSES
    assert {normalize_status(code) for code in STATUSES} == set(STATUSES)
    assert {normalize_classification(code) for code in CLASSIFICATIONS} == set(CLASSIFICATIONS)
    # the GX suites: the value set of raw_complaints; the backlog's query only selects the run date's
    # rows of a dbt view whose status gap adds up the open statuses of the seed (open_status_codes())
    raw = load_suite("raw_complaints", 38, date(2021, 5, 27))
    (in_set,) = [e for e in raw["expectations"] if e["type"] == "expect_column_values_to_be_in_set"]
    assert in_set["kwargs"]["value_set"] == STATUSES
    backlog = load_suite("marts_backlog_daily", 38, date(2021, 5, 27))["meta"]["query"]
    assert "from intermediate.int_backlog_daily_gaps where as_of_date = '2021-05-27'" in backlog
    assert "+" not in backlog and "-" not in backlog.replace("2021-05-27", "")
    gaps = (DBT_PROJECT_DIR / "models" / "intermediate" / "int_backlog_daily_gaps.sql").read_text()
    assert "open_complaints - ({{ statuses | join(' + ') }}) as status_gap" in gaps
    assert "{%- set statuses = open_status_codes() %}" in gaps
    # ... and no suite file lists a status of its own
    for path in EXPECTATIONS_DIR.glob("*.json"):
        spec = json.loads(path.read_text())
        for e in spec.get("expectations", []):
            listed = e.get("kwargs", {}).get("value_set")
            assert not (isinstance(listed, list) and set(listed) & set(STATUSES)), path.name
        query = spec.get("meta", {}).get("query", "")
        assert not re.search(r"'(%s)'" % "|".join(STATUSES), query) and " + ".join(OPEN[:2]) not in query, path.name
    # the generators: every status, each written as a text that reads as it
    for habit, texts in generate.STATUS_TEXTS.items():
        assert list(texts) == STATUSES, habit
        assert all(normalize_status(text) == code for code, text in texts.items()), habit
    assert {normalize_classification(t) for t in generate.CLASSIFICATION_TEXTS.values()} == set(CLASSIFICATIONS)
    # dbt: the backlog mart's documented status columns are the open statuses, in order; no macro,
    # model or data test lists the statuses or the open set (they read ref('complaint_statuses'))
    (backlog_model,) = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "fct_backlog_daily.yml").read_text())["models"]
    columns = [c["name"] for c in backlog_model["columns"]]
    assert [c for c in columns if c in STATUSES] == OPEN
    sql_files = [*(DBT_PROJECT_DIR / "macros").glob("*.sql"), *(DBT_PROJECT_DIR / "models").rglob("*.sql"),
                 *(DBT_PROJECT_DIR / "tests").glob("*.sql")]
    for path in sql_files:
        text = path.read_text()
        listed = re.findall(r"\(\s*'\w+'(?:\s*,\s*'\w+')+\s*\)", text)
        vocabularies = [set(STATUSES), set(OPEN), set(STATUSES) - set(OPEN), set(CLASSIFICATIONS)]
        assert not [t for t in listed if set(re.findall(r"'(\w+)'", t)) in vocabularies], (path.name, listed)
        assert "like '%" not in text.lower() or path.name != "complaint_status.sql"
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for match in re.finditer(r"values: \[([^\]]*)\]", path.read_text()):
            assert not set(map(str.strip, match.group(1).split(","))) & set(STATUSES + CLASSIFICATIONS), path.name


def test_the_seeds_are_built_into_ref_where_bi_reader_cannot_read():
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["seeds"]["lapor"]["+schema"] == "ref"
    assert "+grants" not in project["seeds"]["lapor"]


@pytest.fixture
def seeds_copy(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    monkeypatch.setattr(vocabulary, "SEEDS_DIR", folder)
    return folder


def add_alias(folder: Path, status: str, text: str) -> None:
    """The one-line change: a row in complaint_status_aliases.csv."""
    with (folder / "complaint_status_aliases.csv").open("a", encoding="utf-8") as f:
        f.write(f"{status},{text}\n")


EXPORT = ("ID Laporan,Status Laporan,Tanggal Laporan,Klasifikasi\n"
          "7001,Sedang Ditangani,2021-05-20 09:00,Pengaduan\n"
          "7002,Selesai,2021-05-21 09:00,Aspirasi\n")


def read(scratch, path: Path, monkeypatch) -> tuple[list, list]:
    """The file loaded (decoded by the readers, typed and checked in SQL): (tracking id, status,
    status text) of its rows, and its reject codes."""
    from test_load_fast_path import _load

    settings, url, _ = scratch
    _, rows, _ = _load(settings, url, path, False, monkeypatch)
    with psycopg.connect(url) as conn:
        loaded = conn.execute("select tracking_id, status, status_text from raw.complaints order by line").fetchall()
    return loaded, [reject[5] for reject in rows["rejected_rows"]]


def test_adding_an_alias_is_one_row_and_a_file_using_it_loads(seeds_copy, scratch, tmp_path, monkeypatch):
    from lapor.readers.values import normalize_status

    path = tmp_path / "2021-05-27.csv"
    path.write_text(EXPORT, encoding="utf-8")
    _, before = read(scratch, path, monkeypatch)
    assert before == ["unknown_status"]

    add_alias(seeds_copy, "in_progress", "Sedang Ditangani")
    vocabulary.reload()  # a running process reads the seeds once
    assert normalize_status("  SEDANG   ditangani ") == "in_progress"
    rows, rejects = read(scratch, path, monkeypatch)
    assert rejects == []
    assert rows == [("7001", "in_progress", "Sedang Ditangani"), ("7002", "completed", "Selesai")]


def test_a_new_alias_loads_on_the_fast_path_too(seeds_copy, scratch, tmp_path, monkeypatch):
    from test_load_fast_path import _load

    add_alias(seeds_copy, "in_progress", "Sedang Ditangani")
    vocabulary.reload()
    settings, url, _ = scratch
    path = tmp_path / "export.csv"
    path.write_text(EXPORT, encoding="utf-8")
    for fast in (True, False):
        result, rows, taken = _load(settings, url, path, fast, monkeypatch)
        assert taken == ([] if fast else ["python"])
        assert result["rows_rejected"] == 0 and rows["rejected_rows"] == []
        with psycopg.connect(url) as conn:
            loaded = conn.execute("select tracking_id, status, classification from raw.complaints order by 1").fetchall()
        assert loaded == [("7001", "in_progress", "pengaduan"), ("7002", "completed", "aspirasi")], fast


@pytest.mark.parametrize("row, message", [
    ("resolved,Beres", "names no status"),
    ("completed,Proses", "means both"),
])
def test_a_contradictory_seed_is_refused(seeds_copy, row, message):
    status, text = row.split(",")
    add_alias(seeds_copy, status, text)
    with pytest.raises(vocabulary.VocabularyError, match=message):
        vocabulary.reload()


def test_a_classification_is_normalized_once_by_the_reader():
    from lapor.readers.values import normalize_classification

    assert normalize_classification(" Permintaan  Informasi ") == "permintaan_informasi"
    assert normalize_classification("PERMINTAAN_INFORMASI") == "permintaan_informasi"
    # what the warehouse's substring rule did, done in the reader now (raw holds the code)
    assert normalize_classification("Pengaduan Berkadar Pengawasan") == "pengaduan"
    assert normalize_classification("Informasi publik") == "permintaan_informasi"
    assert normalize_classification("aspirasi / pengaduan") == "aspirasi"
    # anything else: kept (lowercased) in raw, empty in the marts (macro known_classification)
    assert normalize_classification(" Lainnya ") == "lainnya"
    macros = (DBT_PROJECT_DIR / "macros" / "complaint_status.sql").read_text()
    assert "like" not in macros.lower()
