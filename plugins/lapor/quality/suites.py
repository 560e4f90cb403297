"""The warehouse's own data-quality suites (raw loads and marts), run by a GX checkpoint.

Unlike the coordinator's checks these judge the pipeline, not an agency: a failure means a
load or a model produced something impossible (a status no one knows, a backlog whose
counts do not add up, a rate above 100). Outcomes go to `quality.suite_results`, to the Data
Docs site under `LAPOR_HOME/gx`, and, when one fails, to the coordinator's digest.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import date

from psycopg.types.json import Jsonb

from lapor import vocabulary
from lapor.quality.gx_night import Night, import_gx
from lapor.settings import EXPECTATIONS_DIR, Settings

log = logging.getLogger(__name__)
# The environment variable GX's datasource `warehouse` reads its connection string from.
GX_URL_VARIABLE = "GX_LAPOR_WAREHOUSE_URL"  # no LAPOR_ prefix: set by the pipeline, not a setting
SUITES = ["raw_complaints", "marts_backlog_daily", "marts_agency_scorecard", "marts_resolution_monthly",
          "marts_complaints"]


# GX's engine joins by hashing. The statistics of raw.complaints never know the run date's batch
# yet (loaded minutes before, about 1% of the table, so autovacuum has not analyzed it): PostgreSQL
# expects one row for `export_day = D` and ran the self-join of expect_compound_columns_to_be_unique
# as a nested loop (50 s at national scale), or, with nested loops off, as a merge join on
# agency_code alone (100 s); hashed, it takes 1 s. Every other statement GX sends reads one table.
ENGINE_KWARGS = {"connect_args": {"options": "-c enable_nestloop=off -c enable_mergejoin=off"}}
# The run date, on every connection GX opens: a view such as staging.stg_raw__complaints_on_check_date
# selects the date's rows with it, so that its suite is a table asset (see _asset).
CHECK_DATE_SETTING = "lapor.check_date"


def engine_kwargs(day: date) -> dict:
    """ENGINE_KWARGS, with the run date as the connections' setting CHECK_DATE_SETTING."""
    options = f"{ENGINE_KWARGS['connect_args']['options']} -c {CHECK_DATE_SETTING}={day.isoformat()}"
    return {**ENGINE_KWARGS, "connect_args": {**ENGINE_KWARGS["connect_args"], "options": options}}


def _jsonb(value: dict) -> Jsonb:
    return Jsonb(value, dumps=lambda v: json.dumps(v, default=str))


def load_suite(name: str, agencies: int, day: date) -> dict:
    """A suite of expectations/ with its placeholders filled in: `{agencies}` (the registry's
    count), `{statuses}` (the status codes, from the vocabulary seeds, lapor.vocabulary) and, in
    a query, `{run_date}`. The suites hold no status list and no business rule of their own: a
    query only selects the run date's rows of a dbt model that computes what is checked."""
    words = vocabulary.current()
    fill = {"{agencies}": agencies, "{statuses}": list(words.status_codes)}
    spec = json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())
    meta = dict(spec["meta"])
    if "query" in meta:
        meta["query"] = meta["query"].format(run_date=day.isoformat())
    expectations = [{**e, "kwargs": {k: (fill[v] if isinstance(v, str) and v in fill else v)
                                     for k, v in e["kwargs"].items()}} for e in spec["expectations"]]
    return {**spec, "meta": meta, "expectations": expectations}


def _summary(result) -> dict:
    keep = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "partial_unexpected_list")
    return {k: v for k, v in (result.result or {}).items() if k in keep and v is not None}


def _asset(source, name: str, meta: dict):
    """A whole table (`meta.table`, "schema.table") as a table asset, whose columns GX reflects from
    the catalog; a query (`meta.query`) as a query asset. GX learns a query asset's columns by running
    the query and reading only the names, with psycopg2 fetching every row first: for the 10 million
    rows of marts.fct_complaints that cost 14 s and 850 MB, for a national day's 120 thousand raw
    rows 25 MB. A batch of the run date is a view reading CHECK_DATE_SETTING, as a table."""
    if "table" in meta:
        schema, table = meta["table"].split(".", 1)
        return source.add_table_asset(name, table_name=table, schema_name=schema)
    return source.add_query_asset(name, query=meta["query"])


def run_suites(url: str, settings: Settings, day: date, night: Night | None = None) -> dict:
    """Validate every suite for day D; replace D's rows in `quality.suite_results`. The
    checkpoint runs in `night` (lapor.quality.gx_night), whose `publish` the caller runs once
    the night's checkpoints are done; without one, the Data Docs are built here."""
    from lapor.warehouse import connect, mask

    with connect(url) as conn:
        agencies = conn.execute("select count(*) from ref.agencies").fetchone()[0]
    rows: list[tuple] = []
    validation = night or Night(settings)
    try:
        gx = import_gx()
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        context = validation.context
        # GX keeps its datasources in LAPOR_HOME/gx/great_expectations.yml: it gets the name of a
        # config variable, resolved from this process's environment, never the URL itself.
        os.environ[GX_URL_VARIABLE] = url.replace("postgresql://", "postgresql+psycopg2://", 1)
        source = context.data_sources.add_or_update_postgres(
            "warehouse", connection_string="${" + GX_URL_VARIABLE + "}", kwargs=engine_kwargs(day))
        definitions = []
        for name in SUITES:
            spec = load_suite(name, agencies, day)
            asset = _asset(source, name, spec["meta"])
            batch = asset.add_batch_definition_whole_table("run_date")
            suite = ExpectationSuite(name=name, meta={"description": spec["meta"]["description"]})
            for e in spec["expectations"]:
                suite.add_expectation_configuration(ExpectationConfiguration(
                    type=e["type"], kwargs=e["kwargs"], meta=e.get("meta")))
            suite = context.suites.add_or_update(suite)
            definitions.append(context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=name, data=batch, suite=suite)))
        checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
            name="warehouse_suites", validation_definitions=definitions,
            actions=validation.actions(), result_format={"result_format": "SUMMARY"}))
        result = validation.run(checkpoint, run_id=RunIdentifier(run_name=f"lapor_nightly {day.isoformat()}"))
        for run in result.run_results.values():
            suite_name = run.suite_name
            for outcome in run.results:
                config = outcome.expectation_config
                error = mask((outcome.exception_info or {}).get("exception_message") or "") or None \
                    if (outcome.exception_info or {}).get("raised_exception") else None
                target = config.kwargs.get("column") or ", ".join(
                    str(config.kwargs.get(k)) for k in ("column_A", "column_B", "column_list") if config.kwargs.get(k))
                rows.append((day, suite_name, config.type, target or "table", bool(outcome.success) and not error,
                             _jsonb({"error": error} if error else _summary(outcome))))
    except Exception as exc:  # reported, never silently passed
        log.exception("the warehouse suites could not run")
        rows = [(day, name, "suite", "could not run", False,
                 _jsonb({"error": mask(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")}))
                for name in SUITES]
    with connect(url) as conn, conn.transaction():
        conn.execute("delete from quality.suite_results where run_date = %s", (day,))
        with conn.cursor().copy("copy quality.suite_results (run_date, suite, expectation, target, success, result) "
                                "from stdin") as copy:
            for row in rows:
                copy.write_row(row)
    if night is None:
        validation.publish()
    failed = [f"{r[1]}: {r[2]} ({r[3]})" for r in rows if not r[4]]
    return {"expectations": len(rows), "failed": failed}
