"""The nightly run's fixed costs: the dbt docs are generated only when the project or the
warehouse's schema changed since the last generation (a fingerprint beside the published
page), and dbt's partial parse is kept between nights (LAPOR_HOME/dbt/target). Both on a
copy of `dbt_project/` in a fresh home, so editing a model's yml or sql touches nothing else."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

from lapor import pipeline, transform, warehouse
from lapor.settings import DBT_PROJECT_DIR, Settings
from tests.dbt.test_dbt_build import BLITAR, complaint, load_raw
from tests.dbt.test_incremental import write_batch

NIGHT_1, NIGHT_2 = date(2021, 5, 27), date(2021, 5, 28)


@contextlib.contextmanager
def project_copy_home(prefix: str):
    """A fresh embedded PostgreSQL with test_dbt_build's raw layer, and a copy of the dbt project
    that lapor.transform uses meanwhile: (url, settings, project folder)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    project = root / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "__pycache__"))
    settings = dataclasses.replace(Settings.from_env(), home=root / "home", warehouse_url=None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transform, "DBT_PROJECT_DIR", project)
        try:
            url = warehouse.warehouse_url(settings)
            warehouse.ensure_schema(url, settings)
            load_raw(url)
            yield url, settings, project
        finally:
            warehouse.EmbeddedServer(settings.home).stop()
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def home():
    with project_copy_home("lapor-dbt-docs-") as made:
        yield made


def invocations(settings: Settings) -> list[str]:
    """dbt's log of every invocation so far, one text per invocation, oldest first."""
    log = (settings.dbt_dir / "logs" / "dbt.log").read_text(errors="replace")
    return [part for part in re.split(r"\n=+ [0-9:.]+ \| [0-9a-f-]+ =+\n", log) if "Running with dbt" in part]


def docs_generated(settings: Settings) -> int:
    return sum("Command `cli docs generate` succeeded" in part for part in invocations(settings))


def marts(url: str) -> dict[str, str]:
    out = {}
    with warehouse.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
            " where table_schema = 'marts' order by 1")]
        for table in tables:
            rows = [r[0] for r in conn.execute(f"select t::text from {table} t order by 1")]
            out[table] = f"{len(rows)} rows " + hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return out


def test_two_nights_generate_the_docs_once_and_reuse_the_parse(home):
    url, settings, _ = home
    first = pipeline.transform(NIGHT_1, settings)
    index = Path(first["docs"])
    assert docs_generated(settings) == 1
    page = index.read_bytes()
    assert b"fct_complaints" in page and len(page) > 100_000  # the self-contained page, manifest inside
    stored = json.loads(transform.docs_fingerprint_path(settings).read_text())
    assert stored == transform.docs_fingerprint(url, settings)

    # the next night brings new rows, as the loader writes them: the schema stays, so do the docs
    with warehouse.connect(url) as conn, conn.transaction():
        conn.execute("insert into raw.pipeline_runs (run_date) values (%s)", (NIGHT_2,))
        write_batch(conn, BLITAR, "2021-05-28", [
            complaint(BLITAR, "2021-05-28", "3005901", "unverified", "2021-05-28 08:00")])
    second = pipeline.transform(NIGHT_2, settings)
    assert second["docs"] == first["docs"]
    assert docs_generated(settings) == 1
    assert index.read_bytes() == page

    # the second night's build parsed nothing: dbt read its saved parse from the stable target path
    night_2_build = [p for p in invocations(settings) if "Command `cli build`" in p][-1]
    assert "Partial parsing enabled, no changes found, skipping parsing" in night_2_build
    assert "Unable to do partial parsing" not in night_2_build

    # and the partially parsed nightly build left the marts a full, freshly parsed rebuild gives
    incremental = marts(url)
    assert transform.run_dbt(["build", "--full-refresh", "--no-partial-parse", "--exclude-resource-type",
                              "unit_test"], url, settings).success
    assert marts(url) == incremental


def test_a_change_to_a_models_yml_or_sql_or_the_schema_generates_them_again(home):
    url, settings, project = home
    transform.generate_docs(url, settings)  # whatever the first test left: current now
    before = docs_generated(settings)
    transform.generate_docs(url, settings)
    assert docs_generated(settings) == before

    yml = project / "models" / "marts" / "fct_complaints.yml"
    text = yml.read_text()
    assert "One row per complaint" in text
    yml.write_text(text.replace("One row per complaint", "Diperiksa ulang. One row per complaint", 1))
    transform.generate_docs(url, settings)
    assert docs_generated(settings) == before + 1
    assert "Diperiksa ulang." in transform.docs_index(settings).read_text()
    # dbt re-parsed only the changed file
    assert "Partial parsing enabled: 0 files deleted, 0 files added, 1 files changed." in invocations(settings)[-1]

    sql = next((project / "models" / "marts").glob("agency_scorecard.sql"))
    sql.write_text(sql.read_text() + "\n-- a comment changes the compiled code shown in the docs\n")
    transform.generate_docs(url, settings)
    assert docs_generated(settings) == before + 2

    with warehouse.connect(url) as conn:
        conn.execute("comment on table raw.complaints is 'Baris ekspor pengaduan, apa adanya.'")
    transform.generate_docs(url, settings)
    assert docs_generated(settings) == before + 3
    assert "Baris ekspor pengaduan, apa adanya." in transform.docs_index(settings).read_text()

    transform.docs_index(settings).unlink()  # the page gone: generated again whatever the fingerprint
    transform.generate_docs(url, settings)
    assert docs_generated(settings) == before + 4 and transform.docs_index(settings).is_file()
