"""The CapabilityStatement says what the FHIR routes do: valid R4, and every interaction and search
parameter it names is a route and a query parameter of entrypoints/fhir.py (and no route is left out)."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from frontdesk.scheduler.domain.fhir_capabilities import RESOURCES, capability_statement
from frontdesk.scheduler.entrypoints.fhir import public_router, router

PREFIX = "/fhir/R4/"


def _routes() -> dict[str, set[str]]:
    """GET route path (after the prefix) -> its query parameters, by the names clients send."""
    out: dict[str, set[str]] = {}
    for route in [*router.routes, *public_router.routes]:
        if isinstance(route, APIRoute) and route.include_in_schema and "GET" in route.methods:
            out[route.path.removeprefix(PREFIX)] = {p.alias for p in route.dependant.query_params}
    return out


def test_the_statement_is_valid_r4() -> None:
    CapabilityStatement.model_validate(capability_statement("1.0", "https://example.org/fhir/R4"))


def test_it_names_every_route_and_only_the_routes() -> None:
    routes = _routes()
    named = {"metadata"}
    for resource in RESOURCES:
        kind = resource["type"]
        for interaction in resource["interaction"]:
            path = (
                kind if interaction["code"] == "search-type" else next(p for p in routes if p.startswith(f"{kind}/{{"))
            )
            assert path in routes, (kind, interaction)
            named.add(path)
        for param in resource.get("searchParam", []):
            assert param["name"] in routes[kind], (kind, param["name"])
    assert named == set(routes)
