"""The README documents every setting the code reads."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_lapor_setting_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    used: set[str] = set()
    for folder in ("plugins", "dags"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"\bLAPOR_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    used = {u for u in used if not u.startswith("LAPOR_DBT_")}  # set by the pipeline for dbt itself
    used = {"LAPOR_HTTP_TOKEN_<code>" if u.startswith("LAPOR_HTTP_TOKEN_") else u for u in used}
    missing = sorted(u for u in used if f"`{u}`" not in readme)
    assert not missing, f"settings the README does not document: {missing}"


def test_readme_gives_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
