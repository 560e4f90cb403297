"""The complaint vocabulary: statuses (code, Bahasa label, open or closed, the export texts that
mean each) and classifications, read from the dbt seeds in `dbt_project/seeds/`.

Those CSV files are the one place the vocabulary is written. dbt loads them into the schema
`ref` and the models read them with ref(); the readers, the loader, the GX suites and the
sample generators read the same files through this module. Adding an export text for a
status is one row in `complaint_status_aliases.csv`.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lapor.settings import DBT_PROJECT_DIR

# Where the seeds are read from; a test may point it at a copy.
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
STATUSES_FILE = "complaint_statuses.csv"
STATUS_ALIASES_FILE = "complaint_status_aliases.csv"
CLASSIFICATIONS_FILE = "classifications.csv"
CHECKS_FILE = "coordinator_checks.csv"
SEVERITIES_FILE = "severities.csv"


class VocabularyError(ValueError):
    """A seed that contradicts itself (an alias of no status, one text meaning two statuses, ...)."""


@dataclass(frozen=True)
class Status:
    code: str
    label: str      # how LAPOR! shows it (one of its export texts)
    is_open: bool


@dataclass(frozen=True)
class Classification:
    code: str
    label: str
    keyword: str       # a text containing it (lowercased) is this classification ...
    match_order: int   # ... tried in this order when the text is none of the codes and labels


def status_key(text: str) -> str:
    """Any case and spacing: `"  terdisposisi\\tSELESAI "` and `"Terdisposisi Selesai"` are one text."""
    return " ".join(text.split()).casefold()


def classification_key(text: str) -> str:
    """Any case, spacing and punctuation: `Permintaan Informasi`, `permintaan_informasi`."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@dataclass(frozen=True, eq=False)  # hashed by identity: the readers cache their look-ups per vocabulary
class Vocabulary:
    statuses: tuple[Status, ...]
    status_texts: dict[str, tuple[str, ...]]  # code -> its export texts, in the seed's order
    classifications: tuple[Classification, ...]

    @property
    def status_codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.statuses)

    @property
    def open_statuses(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.statuses if s.is_open)

    @property
    def closed_statuses(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.statuses if not s.is_open)

    @property
    def classification_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.classifications)

    def status_lookup(self) -> dict[str, str]:
        """status_key(text) -> code, for every export text and every code itself."""
        lookup: dict[str, str] = {}
        for code in self.status_codes:
            lookup[code] = code  # the normalized codes themselves are accepted too
        for code, texts in self.status_texts.items():
            for text in texts:
                key = status_key(text)
                if lookup.get(key, code) != code:
                    raise VocabularyError(f"{text!r} means both {lookup[key]} and {code}")
                lookup[key] = code
        return lookup

    def classification_lookup(self) -> dict[str, str]:
        """classification_key(text) -> code, for every code and label."""
        return {classification_key(t): c.code for c in self.classifications for t in (c.code, c.label)}

    def classification_keywords(self) -> tuple[tuple[str, str], ...]:
        """(keyword, code) in the order they are tried."""
        return tuple((c.keyword, c.code) for c in sorted(self.classifications, key=lambda c: c.match_order))


def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(newline="", encoding="utf-8") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


def _bool(value: str, where: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise VocabularyError(f"{where}: is_open must be true or false, not {value!r}")
    return value.lower() == "true"


def _flag(value: str, where: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise VocabularyError(f"{where}: must be true or false, not {value!r}")
    return value.lower() == "true"


@lru_cache(maxsize=8)
def load(folder: Path) -> Vocabulary:
    """The vocabulary in the seeds of `folder`."""
    statuses = tuple(Status(r["code"], r["label"], _bool(r["is_open"], f"{STATUSES_FILE}, {r['code']}"))
                     for r in _rows(folder, STATUSES_FILE))
    texts: dict[str, list[str]] = {s.code: [] for s in statuses}
    for r in _rows(folder, STATUS_ALIASES_FILE):
        if r["status"] not in texts:
            raise VocabularyError(f"{STATUS_ALIASES_FILE}: {r['export_text']!r} names no status ({r['status']!r})")
        texts[r["status"]].append(r["export_text"])
    classifications = tuple(Classification(r["code"], r["label"], r["keyword"].lower(), int(r["match_order"]))
                            for r in _rows(folder, CLASSIFICATIONS_FILE))
    for status in statuses:
        if status.label not in texts[status.code]:
            raise VocabularyError(f"{STATUS_ALIASES_FILE}: the label {status.label!r} of {status.code} is none of its texts")
    vocabulary = Vocabulary(statuses, {k: tuple(v) for k, v in texts.items()}, classifications)
    vocabulary.status_lookup()  # raises on a text that means two statuses
    return vocabulary


_current: tuple[object, Vocabulary] | None = None


def current() -> Vocabulary:
    """The vocabulary in use: the seeds under SEEDS_DIR, read at first use (cheap after that:
    the readers ask for it per cell)."""
    global _current
    folder = SEEDS_DIR
    if _current is None or _current[0] is not folder:
        _current = (folder, load(Path(folder)))
    return _current[1]


def reload() -> Vocabulary:
    """Read the seeds again (after a change to the files in a running process, e.g. a test)."""
    global _current
    load.cache_clear()
    _load_checks.cache_clear()
    _load_severities.cache_clear()
    _current = None
    return current()


# The severities of the checks' findings ---------------------------------------------------------
@dataclass(frozen=True)
class Severity:
    """A severity as `severities.csv` defines it: fct_check_results, the e-mails, the report
    and the order of findings (lapor.formatting.severity_rank) all read this row."""
    code: str
    position: int             # most severe first
    label: str                # its name in Bahasa Indonesia
    is_check_severity: bool   # a check may have it (error: the check could not run)


@lru_cache(maxsize=8)
def _load_severities(folder: Path) -> tuple[Severity, ...]:
    severities = tuple(sorted(
        (Severity(r["severity"], int(r["position"]), r["label_id"],
                  _flag(r["is_check_severity"], f"{SEVERITIES_FILE}, {r['severity']}, is_check_severity"))
         for r in _rows(folder, SEVERITIES_FILE)), key=lambda s: (s.position, s.code)))
    codes = [s.code for s in severities]
    if len(set(codes)) != len(codes):
        raise VocabularyError(f"{SEVERITIES_FILE}: a severity appears twice")
    return severities


def severities() -> tuple[Severity, ...]:
    """The severities in the seed under SEEDS_DIR, most severe first."""
    return _load_severities(Path(SEEDS_DIR))


def check_severities() -> tuple[str, ...]:
    """The severities a check may have (coordinator_checks.csv), most severe first."""
    return tuple(s.code for s in severities() if s.is_check_severity)


def severity_label(code: str) -> str:
    """A severity's name in Bahasa Indonesia (the code itself for one the seed does not know)."""
    return next((s.label for s in severities() if s.code == code), code)


def severity_rank(code: str | None) -> int:
    """0 for the most severe; an unknown severity sorts last."""
    ranked = severities()
    return next((i for i, s in enumerate(ranked) if s.code == code), len(ranked))


# The coordinator's checks -------------------------------------------------------------------
# In a check's subject: one finding per month of its facts' months (the month as YYYY-MM), and
# in its subject_label that month's label ("Laporan April 2021").
SUBJECT_MONTH = "{month}"
SUBJECT_MONTH_LABEL = "{month_label}"


@dataclass(frozen=True)
class Check:
    """One of the coordinator's checks (docs/checks.md), as `coordinator_checks.csv` defines it:
    the GX suite, the e-mails, fct_check_results and fct_findings all read this row."""
    name: str
    position: int      # the order the digest shows them
    severity: str      # one of check_severities() (severities.csv): high | medium | low
    label: str         # its name in Bahasa Indonesia
    description: str
    subject: str = ""        # what its findings are about (quality.findings); "" for none of its own
    subject_label: str = ""  # ... in Bahasa Indonesia; both may hold SUBJECT_MONTH / SUBJECT_MONTH_LABEL


@lru_cache(maxsize=8)
def _load_checks(folder: Path) -> tuple[Check, ...]:
    checks = []
    for r in _rows(folder, CHECKS_FILE):
        where = f"{CHECKS_FILE}, {r['check_name']}"
        if r["severity"] not in check_severities():
            raise VocabularyError(f"{where}: severity must be one of {', '.join(check_severities())} "
                                  f"({SEVERITIES_FILE}), not {r['severity']!r}")
        if not r["label_id"]:
            raise VocabularyError(f"{where}: label_id (its name in Bahasa Indonesia) is empty")
        subject, subject_label = r.get("subject", ""), r.get("subject_label", "")
        if bool(subject) != bool(subject_label):
            raise VocabularyError(f"{where}: subject and subject_label go together (both or neither)")
        if (SUBJECT_MONTH in subject) != (SUBJECT_MONTH_LABEL in subject_label):
            raise VocabularyError(f"{where}: a subject per month has {SUBJECT_MONTH} in subject and "
                                  f"{SUBJECT_MONTH_LABEL} in subject_label")
        checks.append(Check(r["check_name"], int(r["position"]), r["severity"], r["label_id"], r["description"],
                            subject, subject_label))
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise VocabularyError(f"{CHECKS_FILE}: a check name appears twice")
    return tuple(sorted(checks, key=lambda c: (c.position, c.name)))


def checks() -> tuple[Check, ...]:
    """The coordinator's checks in the seed under SEEDS_DIR, in the digest's order."""
    return _load_checks(Path(SEEDS_DIR))


def check_label(name: str) -> str:
    """A check's name in Bahasa Indonesia (the name itself for a check the seed does not know)."""
    return next((c.label for c in checks() if c.name == name), name)


def _check(name: str) -> Check | None:
    return next((c for c in checks() if c.name == name), None)


def finding_subject(check_name: str, month: str | None = None) -> str | None:
    """The subject of a finding of `check_name` (about `month`, YYYY-MM, for a check with one
    finding per month), as the view quality.findings writes it; None for a check with no
    subject of its own."""
    check = _check(check_name)
    if check is None or not check.subject:
        return None
    if SUBJECT_MONTH in check.subject:
        return None if month is None else check.subject.replace(SUBJECT_MONTH, month)
    return check.subject


def subject_month(check_name: str, subject: str) -> str | None:
    """The month (YYYY-MM) a finding of `check_name` with `subject` is about; None when its
    check has no finding per month (or the subject is not one of its)."""
    check = _check(check_name)
    if check is None or SUBJECT_MONTH not in check.subject:
        return None
    head, _, tail = check.subject.partition(SUBJECT_MONTH)
    if not (subject.startswith(head) and subject.endswith(tail)) or len(subject) < len(head) + len(tail):
        return None
    return subject[len(head):len(subject) - len(tail)]
