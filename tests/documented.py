"""What the project's documentation promises, read from the Markdown itself, and a check of a
built warehouse against it.

`docs/marts.md` documents every table a reader of the warehouse uses: a heading
`## marts.<table>` (or `### quality.<table>`) followed by a table whose rows are
`| `column` | type | meaning |`. `docs/checks.md` lists the checks in a table under
"The checks". `tests/test_contract.py` holds these promises against the code;
`tests/test_seed_scenario.py` holds them against a warehouse built by a real night
(`warehouse_problems`).
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# the types docs/marts.md uses, and the PostgreSQL catalog types each stands for
TYPES = {
    "text": {"text", "character varying"},
    "date": {"date"},
    "timestamp": {"timestamp with time zone"},
    "integer": {"integer", "bigint", "smallint"},
    "decimal": {"numeric", "double precision", "real"},
    "boolean": {"boolean"},
    "jsonb": {"jsonb"},
}
TABLE_HEADING = re.compile(r"^#{2,4}\s+`?((?:marts|quality)\.[a-z_0-9]+)`?\s*$")
CODE = re.compile(r"`([^`]+)`")


def sections(path: Path) -> dict[str, list[list[str]]]:
    """Each heading's text -> the rows (cells, stripped) of the first table under it, without
    its header and separator rows; [] for a heading with no table."""
    out: dict[str, list[list[str]]] = {}
    heading = None
    state = "before"  # before the first table, in its rows, after it
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if match:
            heading, state = match.group(1), "before"
            out.setdefault(heading, [])
            continue
        if heading is None:
            continue
        row = line.startswith("|")
        if state == "before" and row:
            state = "rows"  # this line is the table's header
        elif state == "rows":
            if not row:
                state = "after"
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                out[heading].append(cells)
    return out


def code(cell: str) -> list[str]:
    """The code spans of a cell: "`a`, `b`" -> ["a", "b"]."""
    return CODE.findall(cell)


def documented_tables(path: Path = DOCS / "marts.md") -> dict[str, dict[str, str]]:
    """`schema.table` -> {column: documented type}, in the order of the page."""
    tables: dict[str, dict[str, str]] = {}
    for heading, rows in sections(path).items():
        match = TABLE_HEADING.match("## " + heading)
        if not match:
            continue
        columns: dict[str, str] = {}
        for row in rows:
            names = code(row[0])
            assert len(names) == 1 and len(row) >= 3, f"{path.name}, {heading}: a row is not `column` | type | …: {row}"
            assert names[0] not in columns, f"{path.name}, {heading}: {names[0]} documented twice"
            columns[names[0]] = row[1]
        assert columns, f"{path.name}: {heading} has no column table"
        tables[match.group(1)] = columns
    return tables


def documented_checks(path: Path = DOCS / "checks.md") -> list[dict[str, str]]:
    """The checks table of docs/checks.md: name, severity, label, rule, in the page's order."""
    rows = sections(path)["The checks"]
    checks = []
    for row in rows:
        names = code(row[0])
        assert len(names) == 1 and len(row) == 4, f"checks.md: a row is not `check` | severity | label | rule: {row}"
        checks.append({"check_name": names[0], "severity": row[1], "label": row[2], "rule": row[3]})
    return checks


def warehouse_problems(url: str) -> list[str]:
    """What a built warehouse lacks or has beyond docs/marts.md and docs/checks.md: tables,
    columns and their types, the role bi_reader and its rights, and the checks recorded by the
    latest run. An empty list when the warehouse is as documented."""
    import psycopg

    tables = documented_tables()
    checks = {c["check_name"] for c in documented_checks()}
    problems: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        catalog: dict[str, dict[str, str]] = {}
        for table, column, data_type in conn.execute(
                "select table_schema || '.' || table_name, column_name, data_type from information_schema.columns "
                "where table_schema in ('marts', 'quality') order by table_schema, table_name, ordinal_position"):
            catalog.setdefault(table, {})[column] = data_type
        in_marts = {r[0] for r in conn.execute(
            "select 'marts.' || table_name from information_schema.tables where table_schema = 'marts'")}
        for table in sorted(in_marts - set(tables)):
            problems.append(f"{table} is in the warehouse but not documented in docs/marts.md")
        for table, columns in tables.items():
            have = catalog.get(table)
            if have is None:
                problems.append(f"{table}: documented, not in the warehouse")
                continue
            for column in columns.keys() - have.keys():
                problems.append(f"{table}.{column}: documented, not in the warehouse")
            for column in have.keys() - columns.keys():
                problems.append(f"{table}.{column}: in the warehouse ({have[column]}), not documented")
            for column in columns.keys() & have.keys():
                if have[column] not in TYPES.get(columns[column], set()):
                    problems.append(f"{table}.{column}: documented as {columns[column]}, "
                                    f"the warehouse has {have[column]}")

        role = conn.execute("select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb from pg_roles "
                            "where rolname = 'bi_reader'").fetchone()
        if role is None:
            problems.append("the role bi_reader does not exist")
        else:
            if tuple(role) != (True, False, False, False):
                problems.append(f"bi_reader: (login, superuser, createrole, createdb) = {tuple(role)}, "
                                "expected a plain login role")
            for table in sorted(t for t in tables if t.startswith("marts.") and t in catalog):
                if not conn.execute("select has_table_privilege('bi_reader', %s, 'SELECT')", (table,)).fetchone()[0]:
                    problems.append(f"bi_reader may not read {table}")
            if conn.execute("select has_schema_privilege('bi_reader', 'marts', 'CREATE')").fetchone()[0]:
                problems.append("bi_reader may create tables in marts")
            for (schema,) in conn.execute(
                    "select nspname from pg_namespace where nspname not in ('marts', 'information_schema') "
                    "and nspname not like 'pg\\_%' and has_schema_privilege('bi_reader', oid, 'USAGE')"):
                problems.append(f"bi_reader may use the schema {schema}")
            for (table,) in conn.execute(
                    "select distinct table_schema || '.' || table_name from information_schema.role_table_grants "
                    "where grantee = 'bi_reader' and table_schema <> 'marts'"):
                problems.append(f"bi_reader has a grant on {table}")
            if conn.execute("select has_database_privilege('bi_reader', current_database(), 'TEMP')").fetchone()[0]:
                problems.append("bi_reader may create temporary tables")

        if "quality.check_results" in catalog:
            recorded = {r[0] for r in conn.execute(
                "select distinct check_name from quality.check_results "
                "where run_date = (select max(run_date) from quality.check_results)")}
            for name in sorted(checks - recorded):
                problems.append(f"check {name}: documented, not recorded by the latest run")
            for name in sorted(recorded - checks):
                problems.append(f"check {name}: recorded by the latest run, not documented in docs/checks.md")
    return problems
