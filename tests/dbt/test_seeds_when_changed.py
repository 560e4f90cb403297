"""The nightly build loads the seeds (dbt_project/seeds/) only when they changed: a night whose
seed files are those the last nightly build loaded (quality.seeds_loaded) and whose seed tables
all exist leaves the seeds and the tests on seeds alone out of `dbt build`, and ends with exactly
the warehouse a build that loads them gives. A changed seed file, a missing seed table or a
fingerprint that was never recorded loads them again. On a copy of `dbt_project/` in a fresh
home, so editing a seed touches nothing else."""
from __future__ import annotations

import hashlib
import json

import pytest

from lapor import transform, warehouse
from lapor.settings import Settings
from tests.dbt.test_docs_when_needed import project_copy_home

SEEDS = ["classifications", "complaint_status_aliases", "complaint_statuses", "coordinator_checks", "severities"]
# a test between a model and a seed: it checks the model's rows, so it runs every night
MODEL_TO_SEED_TEST = "relationships_fct_complaints_status__code__ref_complaint_statuses_"


@pytest.fixture(scope="module")
def home():
    with project_copy_home("lapor-dbt-seeds-") as made:
        yield made


def nodes_run(settings: Settings) -> dict[str, list[str]]:
    """The last dbt invocation's nodes by resource type (run_results.json), names only."""
    results = json.loads((settings.dbt_dir / "target" / "run_results.json").read_text())["results"]
    out: dict[str, list[str]] = {}
    for result in results:
        assert result["status"] in ("success", "pass", "no-op"), result  # an exposure is a no-op
        kind, _, *rest = result["unique_id"].split(".")
        out.setdefault(kind, []).append(rest[0])
    return out


def tables(url: str) -> dict[str, str]:
    """Every mart and every seed table, as text, hashed (the intermediate tables that say what
    a night changed differ from night to night by design)."""
    out = {}
    with warehouse.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
            " where table_schema = 'marts' or (table_schema = 'ref' and table_name = any(%s))"
            " order by 1", (SEEDS,))]
        for name in names:
            rows = [r[0] for r in conn.execute(f"select t::text from {name} t order by 1")]
            out[name] = f"{len(rows)} rows " + hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return out


def recorded(url: str) -> list[str]:
    with warehouse.connect(url) as conn:
        return [r[0] for r in conn.execute("select fingerprint from quality.seeds_loaded")]


def test_seeds_are_loaded_once_and_a_night_without_them_leaves_the_same_warehouse(home):
    url, settings, _ = home
    transform.build(url, settings, unit_tests=False)  # the first night: nothing recorded yet
    first = nodes_run(settings)
    assert sorted(first["seed"]) == SEEDS
    assert recorded(url) == [transform.seeds_fingerprint()]
    with_seeds = tables(url)

    transform.build(url, settings, unit_tests=False)  # the next night: the same files
    second = nodes_run(settings)
    assert "seed" not in second
    left_out = set(first["test"]) - set(second["test"])
    # only the tests on seeds alone are left out; every model's test (one to a seed too) ran
    assert left_out and all(any(seed in name for seed in SEEDS) for name in left_out), sorted(left_out)
    assert MODEL_TO_SEED_TEST in second["test"]
    # every other kind of node still runs (a kind added to the project later, a snapshot or a
    # function, must be added to transform.WITHOUT_SEEDS, or this fails)
    assert set(second) == set(first) - {"seed"}, sorted(second)
    assert set(second["model"]) == set(first["model"])
    assert set(second["test"]) <= set(first["test"])
    without_seeds = tables(url)
    assert without_seeds == with_seeds

    # the slow path on the same warehouse: the seeds loaded again change nothing
    with warehouse.connect(url) as conn:
        conn.execute("delete from quality.seeds_loaded")
    transform.build(url, settings, unit_tests=False)
    assert sorted(nodes_run(settings)["seed"]) == SEEDS
    assert tables(url) == without_seeds


def test_a_changed_seed_file_or_a_missing_seed_table_loads_the_seeds_again(home):
    url, settings, project = home
    transform.build(url, settings, unit_tests=False)  # whatever the first test left: current now
    fingerprint = transform.seeds_fingerprint()
    assert transform.seeds_current(url, fingerprint)

    # a seed table gone (a restore of part of the warehouse, a hand-made drop): not current
    with warehouse.connect(url) as conn:
        conn.execute("alter table ref.severities rename to severities_away")
    try:
        assert not transform.seeds_current(url, fingerprint)
    finally:
        with warehouse.connect(url) as conn:
            conn.execute("alter table ref.severities_away rename to severities")
    assert transform.seeds_current(url, fingerprint)

    # a label changed in a seed file: the next night loads the seeds, and the change is there
    seed = project / "seeds" / "severities.csv"
    seed.write_text(seed.read_text().replace(",tinggi,", ",tinggi sekali,", 1))
    assert transform.seeds_fingerprint() != fingerprint
    transform.build(url, settings, unit_tests=False)
    assert sorted(nodes_run(settings)["seed"]) == SEEDS
    with warehouse.connect(url) as conn:
        label = conn.execute("select label_id from ref.severities where severity = 'high'").fetchone()[0]
    assert label == "tinggi sekali"
    assert recorded(url) == [transform.seeds_fingerprint()]

    # a failed build records nothing: the next night loads the seeds again
    seed.write_text(seed.read_text().replace(",tinggi sekali,", ",tinggi,", 1))
    with warehouse.connect(url) as conn:
        conn.execute("alter table raw.complaints rename to complaints_away")
    try:
        with pytest.raises(transform.TransformError):
            transform.build(url, settings, unit_tests=False)
    finally:
        with warehouse.connect(url) as conn:
            conn.execute("alter table raw.complaints_away rename to complaints")
    assert recorded(url) != [transform.seeds_fingerprint()]
    transform.build(url, settings, unit_tests=False)
    assert sorted(nodes_run(settings)["seed"]) == SEEDS
    assert recorded(url) == [transform.seeds_fingerprint()]

    # a full refresh loads them whatever the fingerprint says
    assert transform.seeds_current(url, transform.seeds_fingerprint())
    transform.build(url, settings, unit_tests=False, full_refresh=True)
    assert sorted(nodes_run(settings)["seed"]) == SEEDS
