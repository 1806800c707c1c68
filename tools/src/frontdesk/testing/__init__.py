"""What the integration tests share, wherever they sit (tests/ and each package's tests/integration).

`frontdesk.testing.plugin` is a pytest plugin (loaded by pyproject.toml's `-p`): the session's stack
(a Kafka broker, a PostgreSQL server, the services as OS processes) as fixtures. `helpers` produces
records and reads the services' databases; `authz` is the authorization matrix of each service's API;
`followup`, `scheduler` and `reviews` hold what tests of several packages borrow from those services'.
"""

import pytest

# The helpers assert as tests do; pytest explains a failing assert only in modules it rewrote on import.
pytest.register_assert_rewrite(
    "frontdesk.testing.authz",
    "frontdesk.testing.followup",
    "frontdesk.testing.helpers",
    "frontdesk.testing.reviews",
    "frontdesk.testing.scheduler",
)
