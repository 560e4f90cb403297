"""The dbt project's graph says what the incremental machinery does: the incremental models
are the models tagged `incremental`, and each read of a previous build is a declared source.
Also: every model has its `.yml` beside it, with a description.

`dbt parse` needs no database (as in test_semantic_layer). That the tag is what the build
itself treats incrementally, on a warehouse, is checked in test_incremental.py
(`test_the_tagged_models_are_the_ones_the_build_window_waits_for`).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lapor.settings import DBT_PROJECT_DIR, Settings

TAG = "incremental"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """The parsed dbt manifest (dbt's Manifest object)."""
    from dbt.cli.main import dbtRunner

    folder = tmp_path_factory.mktemp("dbt-parse")
    result = dbtRunner().invoke([
        "parse", "--no-partial-parse",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(folder / "target"),
        "--log-path", str(folder / "logs"),
        "--vars", json.dumps(Settings.from_env().dbt_vars()),
    ])
    assert result.success, result.exception
    return result.result


@pytest.fixture(scope="module")
def models(manifest) -> dict:
    """name -> parsed model node."""
    return {node.name: node for node in manifest.nodes.values() if node.resource_type == "model"}


def test_every_model_has_its_yml_beside_it_with_a_description(models):
    problems = []
    for name, node in sorted(models.items()):
        beside = Path(node.original_file_path).with_suffix(".yml").as_posix()
        patch = (node.patch_path or "").split("://", 1)[-1]
        if patch != beside:
            problems.append(f"{name}: described in {patch or 'no .yml'}, expected {beside}")
        elif not node.description.strip():
            problems.append(f"{name}: {beside} has no description")
    assert problems == []


def test_the_incremental_tag_marks_exactly_the_incremental_models(models):
    tagged = {name for name, node in models.items() if TAG in node.tags}
    materialized = {name for name, node in models.items() if node.config.materialized == "incremental"}
    assert tagged == materialized
    assert len(tagged) >= 7  # int_complaints__latest … agg_resolution_monthly


def test_the_build_state_waits_for_every_incremental_model(models):
    """int_build_state moves only once every incremental model (and its tests) succeeded: its
    depends_on refs, which dbt reads before any tag can be looked up, must name them all."""
    tagged = {node.unique_id for node in models.values() if TAG in node.tags}
    assert tagged <= set(models["int_build_state"].depends_on.nodes)


def test_every_incremental_model_says_which_rows_its_tests_check(models):
    """meta.test_scope, read by macros/test_scope.sql (which fails on a scope it does not know)."""
    macro = (DBT_PROJECT_DIR / "macros" / "test_scope.sql").read_text()
    known = set(re.findall(r"scope == '(\w+)'", macro))
    scoped = {name: node.config.meta.get("test_scope") for name, node in models.items()
              if TAG in node.tags or "test_scope" in node.config.meta}
    assert {name: scope for name, scope in scoped.items() if scope not in known} == {}
    assert scoped["stg_raw__complaints"] == "new_batches"


def test_previous_build_reads_are_sources_on_the_models_own_tables(manifest, models):
    """A model that reads another model's table as the previous build left it (before this run
    replaces it) declares it as a source of models/intermediate/_previous_build.yml: the read
    shows in the lineage without a cycle. Each such source is a model's own table and is read."""
    relations = {(node.schema, node.alias): name for name, node in models.items()}
    readers: dict[str, set[str]] = {}
    for name, node in models.items():
        for source_id in node.depends_on.nodes:
            if source_id.startswith("source.lapor.previous_"):
                readers.setdefault(source_id, set()).add(name)
    previous = {s.unique_id: s for s in manifest.sources.values() if s.source_name.startswith("previous_")}
    assert previous, "no previous-build sources"
    for source_id, source in previous.items():
        assert (source.schema, source.identifier) in relations, f"{source_id} is no model's table"
        assert readers.get(source_id), f"{source_id} is read by no model"
    assert readers == {
        "source.lapor.previous_intermediate.int_build_state": {"int_build_window"},
        "source.lapor.previous_intermediate.int_build_window": {"int_build_window"},
        "source.lapor.previous_intermediate.int_complaint_status_intervals": {"int_agency_backlog_changes"},
        "source.lapor.previous_marts.fct_backlog_daily": {"int_agency_backlog_changes"},
        "source.lapor.previous_marts.fct_complaints": {"int_resolution_month_changes"},
    }


def test_no_model_reads_a_table_behind_the_graphs_back():
    """Models name other tables with ref() or source(); looking one up by its name is left to
    the macros that need a table this run built (build_is_full, the scoped tests)."""
    offenders = [path.relative_to(DBT_PROJECT_DIR).as_posix()
                 for path in sorted((DBT_PROJECT_DIR / "models").rglob("*.sql"))
                 if re.search(r"stored_relation\(|get_relation\(\s*this\.database, this\.schema, '", path.read_text())]
    assert offenders == []
