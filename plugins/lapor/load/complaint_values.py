"""The texts of a complaints file that SQL does not read itself, read by `lapor.readers.values`.

Statuses, classifications, yes/no values and agency codes have few distinct texts; tracking ids
with a dot (`3007395.0`) and dates in another form than plain `YYYY-MM-DD[ HH:MM[:SS]]` may
have many. Each distinct text is read once by the Python function that defines its meaning,
and SQL looks the reading up: from a JSON map written into the statement when there are
few (the usual case), else from a temporary table `value_map` filled in batches, so memory
does not grow with the file.
"""
from __future__ import annotations

import json

from psycopg import sql

from lapor.readers.columns import COMPLAINT_DATES
from lapor.readers.limits import SHOWN_CHARS, Limits, visible
from lapor.readers.values import (
    UnreadableValue,
    clean_text,
    clean_tracking_id,
    is_blank,
    normalize_classification,
    normalize_status,
    parse_bool,
    parse_datetime,
    same_code,
)

MAX_MAPPED = 20_000  # distinct texts written into the statement; more and they go to `value_map`
UNREADABLE = "-infinity"  # a date text the Python parser refuses
_BATCH = 10_000
# the map each column's texts are read with
KEY_OF = {"status": "status", "classification": "classification", "is_confidential": "bool",
          "is_anonymous": "bool", "is_supervisory": "bool", "agency_code": "agency", "tracking_id": "tracking",
          **{c: "date" for c in COMPLAINT_DATES}}


class TooLong(Exception):
    """A COPYed field is longer than the CSV reader allows: the readers decide about the file."""


def _lit(value) -> sql.Composable:
    return sql.Literal(value)


class ValueMaps:
    """Every key's readings: {key: {text: value}} and the texts whose reading loses them."""

    def __init__(self, query) -> None:
        self.query = query
        self.maps: dict[str, dict] = {k: {} for k in ("status", "status_reason", "classification", "bool",
                                                      "agency", "tracking", "date")}
        self.lost: dict[str, dict] = {"date": {}, "bool": {}, "classification": {}}
        self.in_table = False

    def read(self, key: str, text: str) -> list[tuple[str, str, object, bool]]:
        """(key, text, reading, lost) for one text: the readers' functions, the only place they live."""
        query = self.query
        if key == "status":
            status = normalize_status(text)
            out = [("status", text, status, False)]
            if status is None:
                reason = (f"Status column '{query.name('status')}' is empty; every complaint needs a LAPOR! status."
                          if is_blank(text) else
                          f"Status '{visible(text.strip(), SHOWN_CHARS)}' is not a known LAPOR! status.")
                out.append(("status_reason", text, reason, False))
            return out
        if key == "classification":
            value = normalize_classification(text)
            return [(key, text, value, value is None and not is_blank(text))]
        if key == "bool":
            value = parse_bool(text)
            return [(key, text, value, value is None and not is_blank(text))]
        if key == "agency":
            row_agency = clean_text(text)
            if row_agency is None or same_code(row_agency, query.agency_code):
                return []
            return [(key, text, f"Agency code '{visible(row_agency, SHOWN_CHARS)}' in column "
                                f"'{query.name('agency_code')}' is not {query.agency_code}, the agency whose "
                                "folder holds the file.", False)]
        if key == "tracking":
            return [(key, text, clean_tracking_id(text), False)]
        try:
            parsed = parse_datetime(text)
        except UnreadableValue:
            return [(key, text, UNREADABLE, True)]
        return [(key, text, None if parsed is None else parsed.isoformat(), False)]

    def add(self, key: str, text: str) -> None:
        for name, found, value, lost in self.read(key, text):
            self.maps[name][found] = value
            if lost:
                self.lost[name][found] = True

    # the SQL that looks a reading up
    def value(self, key: str, cell: sql.Composable) -> sql.Composable:
        if self.in_table:
            return sql.SQL("(select value from value_map where key = {} and text = {})").format(_lit(key), cell)
        return sql.SQL("({}::jsonb ->> {})").format(_lit(json.dumps(self.maps[key])), cell)

    def has(self, key: str, cell: sql.Composable) -> sql.Composable:
        if self.in_table:
            return sql.SQL("exists (select from value_map where key = {} and text = {})").format(_lit(key), cell)
        return sql.SQL("{}::jsonb ? {}").format(_lit(json.dumps(self.maps[key])), cell)

    def loses(self, column: str, cell: sql.Composable) -> sql.Composable | None:
        """Whether reading the cell loses a non-blank text (None: no text of the file does)."""
        key = KEY_OF[column]
        if not self.lost[key]:
            return None
        if self.in_table:
            return sql.SQL("exists (select from value_map where key = {} and text = {} and lost)").format(
                _lit(key), cell)
        return sql.SQL("{}::jsonb ? {}").format(_lit(json.dumps(self.lost[key])), cell)

    def any(self, key: str) -> bool:
        return self.in_table or bool(self.maps[key])


def read_values(query) -> ValueMaps:
    """Read the odd texts of `incoming_complaints` (one scan for the few-valued columns, the
    tracking ids and dates from the query's survey); too many, and they go to `value_map`."""
    maps = ValueMaps(query)
    conn = query.conn
    keyed = [(KEY_OF[column], query.cell(column)) for column in (
        "status", "classification", "is_confidential", "is_anonymous", "is_supervisory", "agency_code")
        if query.cell(column) is not None]
    combinations = conn.execute(sql.SQL("select distinct {} from incoming_complaints limit {}").format(
        sql.SQL(", ").join(cell for _, cell in keyed), _lit(MAX_MAPPED + 1))).fetchall()
    tracking, dates = survey(query, MAX_MAPPED + 1)
    texts = {(key, row[i]) for row in combinations for i, (key, _) in enumerate(keyed)}
    texts.update(("tracking", text) for text in tracking)
    texts.update(("date", text) for text in dates)
    if len(combinations) <= MAX_MAPPED and len(texts) <= MAX_MAPPED:
        for key, text in texts:
            maps.add(key, text)
        return maps
    _fill_table(query, maps)
    return maps


def _fill_table(query, maps: ValueMaps) -> None:
    """Every key's distinct texts, read in batches into the temporary table `value_map`."""
    conn = query.conn
    maps.in_table = True
    conn.execute("create temp table value_map (key text, text text, value text, lost boolean) on commit drop")
    for key in ("status", "classification", "bool", "agency", "tracking", "date"):
        cells = [query.cell(c) for c, k in KEY_OF.items() if k == key and query.cell(c) is not None]
        if not cells:
            continue
        which = {"tracking": "strpos({c}, '.') > 0", "date": "{c} <> '' and not {plain}"}.get(key, "true")
        parts = sql.SQL(" union all ").join(
            sql.SQL("select {c} as t from incoming_complaints where " + which).format(
                c=c, plain=query.plain_timestamp(c)) for c in cells)
        with conn.cursor(name=f"odd_{key}") as texts:
            texts.execute(sql.SQL("select distinct t from ({}) texts").format(parts))
            while batch := texts.fetchmany(_BATCH):
                rows = [found for (text,) in batch for found in maps.read(key, text)]
                for name, _, _, lost in rows:
                    if lost:
                        maps.lost[name][True] = True  # only whether any text is lost is kept here
                with conn.cursor().copy("copy value_map (key, text, value, lost) from stdin") as copy:
                    for name, text, value, lost in rows:
                        if isinstance(value, bool):
                            value = "true" if value else "false"
                        copy.write_row((name, text, value, lost))
    conn.execute("create unique index on value_map (key, text)")
    conn.execute("analyze value_map")


def survey(query, cut: int) -> tuple[set[str], set[str]]:
    """One scan: a field too long for the CSV reader (COPYed bytes), the non-blank records,
    repeated tracking ids, and the texts that only the Python functions read (tracking ids
    with a dot, dates in another form than plain; at most `cut` of each column's)."""
    ws = query.ws
    width = range(len(query.cells))
    if query.decoded:
        too_long = sql.SQL("false")  # the readers checked the cells' length
    else:
        limit = Limits.from_env().max_cell_chars  # longer in octets: the Python reader decides, in characters
        too_long = sql.SQL(" or ").join(sql.SQL("octet_length({}) > {}").format(query.text(i), _lit(limit))
                                        for i in width)
    blank = sql.SQL(" and ").join(sql.SQL("{} = ''").format(query.trimmed(query.text(i))) for i in width)
    tracking = query.cell("tracking_id")
    # equal tracking ids have equal keys (`3007395.0` and `3007395` too): a superset of the duplicates
    key = sql.SQL("nullif(case when strpos({c}, '.') > 0 then regexp_replace(btrim({c}, {ws}), '[.]0*$', '') "
                  "else {trimmed} end, '')").format(c=tracking, ws=ws, trimmed=query.trimmed(tracking))
    date_cells = [query.cell(c) for c in COMPLAINT_DATES if query.cell(c) is not None]
    odd = [sql.SQL("(array_agg(distinct {c}) filter (where strpos({c}, '.') > 0))[1:{cut}]").format(
        c=tracking, cut=_lit(cut))]
    odd += [sql.SQL("(array_agg(distinct {c}) filter (where {c} <> '' and not {plain}))[1:{cut}]").format(
        c=c, plain=query.plain_timestamp(c), cut=_lit(cut)) for c in date_cells]
    found = query.conn.execute(sql.SQL(
        """select bool_or(too_long), count(*) filter (where not blank), count(distinct key), count(key), {odd}
           from (select {too_long} as too_long, {blank} as blank, {key} as key, {cells}
                 from incoming_complaints offset 0) t""").format(
        too_long=too_long, blank=blank, key=key, odd=sql.SQL(", ").join(odd),
        cells=sql.SQL(", ").join(sql.Identifier(query.cells[query.header.index[c]])
                                 for c in ("tracking_id", *COMPLAINT_DATES) if c in query.header.index))).fetchone()
    too_long_found, query.records, distinct_ids, ids, odd_ids, *odd_dates = found
    if too_long_found:
        raise TooLong("a field longer than the CSV reader's limit")
    query.has_duplicates = distinct_ids < ids  # a superset of the duplicates that load
    return set(odd_ids or ()), {text for texts in odd_dates for text in texts or ()}
