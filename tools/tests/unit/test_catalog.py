"""The README's event catalog is generated from the registry and deploy/access.yaml: keep it current."""

from __future__ import annotations

from frontdesk.common.contracts import EVENTS
from frontdesk.tools import catalog
from frontdesk.tools.stack import repo_root


def test_the_readme_catalog_is_current() -> None:
    readme = (repo_root() / "README.md").read_text()
    assert catalog.updated_readme(readme) == readme, "README.md's event catalog is stale: run `make docs`"


def test_every_event_type_has_a_row_and_a_producer() -> None:
    table = catalog.render()
    for event_type in EVENTS:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{event_type}`"))
        producers = row.split("|")[5].strip()
        assert producers != "-", f"{event_type} has no producer in deploy/access.yaml"
