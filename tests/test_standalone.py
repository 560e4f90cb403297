"""The project stands alone: a user's clone has only what the repository holds.

On the machines where the project is developed, a folder of reference notes sits beside the
repository; a user's clone has none. Nothing in the project may read it, link to it or cite its
files: what the project needs of it lives in the project (the Compose Specification schema in
`tests/data/`, the agency list in the registry, the interfaces in `docs/`).

- Every file git tracks, and every untracked file git does not ignore, is free of such a
  reference (the pattern below is the one place allowed to spell it).
- A fresh clone of HEAD into an empty temporary folder, with nothing beside it, passes the
  contract and compose tests (`tests/test_contract.py`: the docs against the code, no
  warehouse; `tests/test_compose.py`: the compose file against the Compose Specification and
  the PostgreSQL init script against a throwaway server) with this environment's Python and the
  clone's own `lapor` package. The documentation against a built warehouse is checked by
  `tests/test_seed_scenario.py`, which needs a whole night and is not repeated in the clone.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the folder beside the repository and the files it holds, however a reference spells them
FORBIDDEN = re.compile(r"\.\./shared\b|\.parents?(?:\[\d+\])?\s*/\s*[\"']shared[\"']|\bshared/(?:data|tools|hooks)/|\b(?:CONTRACT|DOMAIN|STYLE)\.md\b|\bCONTRACT\s*(?:§|\\u00a7)")  # noqa: E501  the allowed pattern definition
CLONE_TESTS = ["tests/test_compose.py", "tests/test_contract.py"]


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def _project_files() -> list[str]:
    listing = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted({name for name in listing.split("\0") if name})


@pytest.fixture(scope="module")
def git_repo():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone or list")
    return ROOT


def test_nothing_in_the_project_references_the_folder_beside_it(git_repo):
    me = Path(__file__).resolve().relative_to(ROOT).as_posix()
    found = []
    for name in _project_files():
        path = ROOT / name
        if not path.is_file() or path.is_symlink():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary: a spreadsheet of the corpus, an image
        for number, line in enumerate(text.splitlines(), start=1):
            if name == me and line.startswith("FORBIDDEN = re.compile("):
                continue
            if FORBIDDEN.search(line):
                found.append(f"{name}:{number}: {line.strip()[:160]}")
    assert not found, "the project refers to files outside it (copy what it needs into it):\n  " + "\n  ".join(found)


def _clean_environment(clone: Path) -> dict[str, str]:
    """This environment without the settings the running test session made (LAPOR_HOME, Airflow's
    home, ...), with the clone's own package first on the path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAPOR_", "AIRFLOW_", "AIRFLOW__", "GX_", "PYTEST_", "DBT_"))}
    env["PYTHONPATH"] = str(clone / "plugins")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _in_clone(clone: Path, code: str) -> list[str]:
    """`python -c` for the clone: the environment's package is installed editable from this
    checkout (a path entry to its `plugins/`), and `lapor` is a namespace package, so that entry
    is taken off sys.path first: the clone imports its own `lapor` and nothing of this checkout."""
    return [sys.executable, "-c", (
        "import os, sys\n"
        f"sys.path[:] = [p for p in sys.path if os.path.realpath(p or '.') != {os.path.realpath(ROOT / 'plugins')!r}]\n"
        + code)]


def test_a_fresh_clone_passes_the_contract_and_compose_tests(git_repo, tmp_path):
    head = _git("rev-parse", "HEAD").strip()
    empty = tmp_path / "fresh"
    empty.mkdir()
    clone = empty / "lapor-jatim"
    _git("clone", "--quiet", str(ROOT), str(clone), cwd=empty)
    _git("checkout", "--quiet", "--detach", head, cwd=clone)
    assert sorted(p.name for p in empty.iterdir()) == ["lapor-jatim"]  # nothing beside the clone
    env = _clean_environment(clone)

    where = subprocess.run(_in_clone(clone, "import lapor, lapor.settings\n"
                                            "print(*lapor.__path__, lapor.settings.PROJECT_ROOT, sep='\\n')"),
                           cwd=clone, env=env, capture_output=True, text=True, check=True).stdout.split()
    for path in where:
        assert Path(path).resolve().is_relative_to(clone.resolve()), f"the clone's lapor comes from {path}"

    result = subprocess.run(
        _in_clone(clone, f"import pytest\nsys.exit(pytest.main({[*CLONE_TESTS, '-q', '-p', 'no:cacheprovider']!r}))"),
        cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"a fresh clone of {head[:12]} fails {' '.join(CLONE_TESTS)}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]
