"""One home per SQL function: a service's functions.sql (applied at every start), never a migration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
MIGRATIONS = sorted(REPO.glob("services/*/src/frontdesk/*/migrations"))
CREATE = re.compile(r"\bCREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\b", re.I)


@pytest.mark.parametrize("directory", MIGRATIONS, ids=lambda d: d.parts[-5])
def test_migrations_create_no_functions(directory: Path) -> None:
    for migration in sorted(directory.glob("*.sql")):
        assert not CREATE.search(migration.read_text()), f"{migration.name}: functions go in ../functions.sql"


@pytest.mark.parametrize("functions", sorted(REPO.glob("services/*/src/frontdesk/*/functions.sql")), ids=str)
def test_the_functions_file_only_creates_or_replaces(functions: Path) -> None:
    text = functions.read_text()
    assert CREATE.search(text)
    assert len(re.findall(r"\bCREATE\s+FUNCTION\b", text, re.I)) == 0  # OR REPLACE: it runs at every start
