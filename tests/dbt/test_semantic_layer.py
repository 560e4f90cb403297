"""The semantic layer (`dbt_project/models/marts/_semantic_models.yml`, `_metrics.yml`):
`dbt parse` writes a semantic manifest whose four coordinator metrics are defined as
docs/marts.md says, on columns the marts have.

`dbt parse` needs no database: the project is parsed in-process, as `lapor.transform` runs
dbt, into a temporary target path. dbt validates the semantic manifest while it parses
(MetricFlow's rules: measures, entities, time spine); what those rules leave out (that a
filter's `Dimension(...)` exists, that an `expr` reads real columns) is checked here.
"""
from __future__ import annotations

import json
import re

import pytest

from lapor.settings import DBT_PROJECT_DIR, Settings

METRICS = {"completion_rate", "open_backlog", "median_working_days_to_close", "followup_sla_pct"}

# words of the SQL expressions used in the semantic models that are not column names
SQL_WORDS = {"case", "when", "then", "else", "end", "and", "or", "not", "is", "null", "in",
             "true", "false", "at", "time", "zone", "date", "integer", "numeric"}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    """(semantic manifest as written by `dbt parse`, the parsed dbt manifest)."""
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
    semantic = json.loads((folder / "target" / "semantic_manifest.json").read_text())
    return semantic, result.result


@pytest.fixture(scope="module")
def semantic(parsed):
    return parsed[0]


@pytest.fixture(scope="module")
def mart_columns(parsed):
    """Documented columns (the model's .yml) of each model, by relation name (alias)."""
    manifest = parsed[1]
    return {node.alias: set(node.columns) for node in manifest.nodes.values() if node.resource_type == "model"}


def by_name(items: list[dict]) -> dict[str, dict]:
    return {item["name"]: item for item in items}


def metric(semantic: dict, name: str) -> dict:
    return by_name(semantic["metrics"])[name]


def measure(semantic: dict, name: str) -> tuple[dict, dict]:
    """(semantic model, measure) of a measure name."""
    for model in semantic["semantic_models"]:
        for item in model["measures"]:
            if item["name"] == name:
                return model, item
    raise AssertionError(f"no measure {name}")


def filters(item: dict | None) -> list[str]:
    """The where-filter SQL templates of a metric or metric input, whitespace normalized."""
    templates = ((item or {}).get("filter") or {}).get("where_filters") or []
    return [" ".join(template["where_sql_template"].split()) for template in templates]


def agg_time_dimension(model: dict, item: dict) -> str:
    return item["agg_time_dimension"] or model["defaults"]["agg_time_dimension"]


def columns_read(expr: str) -> set[str]:
    """Identifiers an SQL expression reads (string literals and SQL words left out)."""
    without_literals = re.sub(r"'[^']*'", "", expr.lower())
    return set(re.findall(r"[a-z_][a-z0-9_]*", without_literals)) - SQL_WORDS


def test_parse_writes_the_four_metrics_and_the_time_spine(semantic):
    assert METRICS <= set(by_name(semantic["metrics"]))
    assert {"complaints", "backlog_daily", "scorecard_daily", "agencies"} <= set(by_name(semantic["semantic_models"]))
    [spine] = semantic["project_configuration"]["time_spines"]
    assert spine["node_relation"]["alias"] == "dim_date"
    assert spine["primary_column"] == {"name": "date_day", "time_granularity": "day"}


def test_completion_rate_is_completed_over_received_this_year_as_a_percentage(semantic):
    rate = metric(semantic, "completion_rate")
    assert rate["type"] == "derived"
    assert " ".join(rate["type_params"]["expr"].split()) == "100.0 * completed_ytd / nullif(received_ytd, 0)"
    assert {item["name"] for item in rate["type_params"]["metrics"]} == {"completed_ytd", "received_ytd"}
    for name in ("completed_ytd", "received_ytd"):
        part = metric(semantic, name)
        assert part["type"] == "simple" and filters(part) == []
        model, item = measure(semantic, part["type_params"]["measure"]["name"])
        # the scorecard's own columns, so the rate per agency and day is agency_scorecard.completion_rate
        assert model["node_relation"]["alias"] == "agency_scorecard"
        assert (item["expr"] or item["name"]) == name and item["agg"] == "sum"
        # year-to-date counts are stocks: a month or year takes its last day, never a sum of days
        assert item["non_additive_dimension"]["name"] == "as_of_date"
        assert item["non_additive_dimension"]["window_choice"] == "max"
        assert agg_time_dimension(model, item) == "as_of_date"


def test_open_backlog_is_the_backlog_of_the_last_day_not_a_sum_over_days(semantic):
    backlog = metric(semantic, "open_backlog")
    assert backlog["type"] == "simple" and filters(backlog) == []
    model, item = measure(semantic, backlog["type_params"]["measure"]["name"])
    assert model["node_relation"]["alias"] == "fct_backlog_daily"
    assert (item["expr"] or item["name"]) == "open_complaints" and item["agg"] == "sum"
    assert item["non_additive_dimension"] == {"name": "as_of_date", "window_choice": "max", "window_groupings": []}
    assert agg_time_dimension(model, item) == "as_of_date"


def test_median_working_days_to_close_over_completed_complaints_by_day_of_closing(semantic):
    median = metric(semantic, "median_working_days_to_close")
    assert median["type"] == "simple"
    assert filters(median) == ["{{ Dimension('complaint__status') }} = 'completed'"]
    model, item = measure(semantic, median["type_params"]["measure"]["name"])
    assert model["node_relation"]["alias"] == "fct_complaints"
    assert item["expr"] == "working_days_to_close" and item["agg"] == "median"
    assert agg_time_dimension(model, item) == "closed_on"


def test_followup_sla_pct_is_within_sla_over_decided_dispositioned_complaints(semantic):
    pct = metric(semantic, "followup_sla_pct")
    assert pct["type"] == "derived"
    assert " ".join(pct["type_params"]["expr"].split()) == \
        "100.0 * followups_within_sla / nullif(followups_sla_decided, 0)"
    within, decided = metric(semantic, "followups_within_sla"), metric(semantic, "followups_sla_decided")
    assert filters(within) == ["{{ Dimension('complaint__followup_sla_outcome') }} = 'within_sla'"]
    assert filters(decided) == ["{{ Dimension('complaint__followup_sla_outcome') }} in ('within_sla', 'breached')"]
    for part in (within, decided):
        model, item = measure(semantic, part["type_params"]["measure"]["name"])
        assert model["node_relation"]["alias"] == "fct_complaints"
        assert item["agg"] == "count" and item["expr"] == "dispositioned_at"
        assert agg_time_dimension(model, item) == "dispositioned_on"
    complaints = by_name(semantic["semantic_models"])["complaints"]
    outcome = " ".join(by_name(complaints["dimensions"])["followup_sla_outcome"]["expr"].split())
    # not dispositioned: no SLA; breached as fct_complaints says; within: a first follow-up, not
    # breached; otherwise still pending (not decidable yet)
    assert outcome == (
        "case when dispositioned_at is null then 'not_dispositioned' when followup_sla_breached then 'breached'"
        " when first_followup_at is not null then 'within_sla' else 'pending' end"
    )


def test_every_entity_dimension_and_measure_reads_columns_of_its_mart(semantic, mart_columns):
    for model in semantic["semantic_models"]:
        columns = mart_columns[model["node_relation"]["alias"]]
        for kind in ("entities", "dimensions", "measures"):
            for item in model[kind]:
                read = columns_read(str(item["expr"] or item["name"]))
                assert read and read <= columns, (model["name"], item["name"], read - columns)
            for item in model["measures"]:
                if item["non_additive_dimension"]:
                    assert item["non_additive_dimension"]["name"] in by_name(model["dimensions"])


def test_every_filter_names_a_dimension_of_the_entity_it_goes_through(semantic):
    dimensions_of: dict[str, set[str]] = {}
    for model in semantic["semantic_models"]:
        primary = [entity["name"] for entity in model["entities"] if entity["type"] in ("primary", "unique")]
        for entity in primary + [model["primary_entity"]] * bool(model["primary_entity"]):
            dimensions_of.setdefault(entity, set()).update(by_name(model["dimensions"]))
    templates = []
    for item in semantic["metrics"]:
        templates += filters(item)
        for inputs in (item["type_params"]["metrics"] or []) + (item["type_params"]["input_measures"] or []):
            templates += filters(inputs)
    references = [ref for template in templates for ref in re.findall(r"Dimension\('([a-z_]+)'\)", template)]
    assert len(references) >= 3
    for reference in references:
        entity, dimension = reference.split("__", 1)
        assert dimension in dimensions_of.get(entity, set()), reference


def test_metrics_and_elements_are_described_and_labelled(semantic):
    for item in semantic["metrics"]:
        assert item["description"].strip() and item["label"], item["name"]
    for model in semantic["semantic_models"]:
        assert model["description"].strip() and model["label"], model["name"]
        for kind in ("entities", "dimensions", "measures"):
            for item in model[kind]:
                assert (item["description"] or "").strip() and item["label"], (model["name"], item["name"])
