"""The FHIR R4 CapabilityStatement of the scheduler's read API (`GET /fhir/R4/metadata`): what FHIR
clients read first (HAPI's generic client checks it before its first request, SMART apps find the
server's auth there). It must say what the routes in entrypoints/fhir.py do: the tests compare them."""

from __future__ import annotations

from typing import Any

FHIR_VERSION = "4.0.1"
SOFTWARE = "Frontdesk scheduler"


def _param(name: str, kind: str, documentation: str) -> dict[str, str]:
    return {"name": name, "type": kind, "documentation": documentation}


RESOURCES: list[dict[str, Any]] = [
    {
        "type": "Appointment",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            _param("patient", "reference", "The patient's id or Patient/id (patient or practitioner required)"),
            _param("practitioner", "reference", "The provider's id or Practitioner/id"),
            _param("date", "date", "The start, with ge/gt/le/lt/eq prefixes; without an offset in the provider's zone"),
            _param("_count", "number", "Page size, at most 500; Bundle.link next pages on"),
        ],
    },
    {"type": "Schedule", "interaction": [{"code": "read"}]},
    {
        "type": "Slot",
        "interaction": [{"code": "search-type"}],
        "searchParam": [
            _param("schedule", "reference", "Required: the provider's Schedule (id or Schedule/id)"),
            _param("start", "date", "Required: the range, at most 31 days; without an offset in the schedule's zone"),
            _param("appointment-type", "token", "The clinic's appointment type code (free slots are for it)"),
            _param("status", "token", "free, busy, busy-tentative, busy-unavailable (a comma is an OR)"),
        ],
    },
]


def capability_statement(version: str, base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-08",
        "publisher": "Frontdesk",
        "kind": "instance",
        "software": {"name": SOFTWARE, "version": version},
        "implementation": {"description": "Frontdesk scheduler FHIR R4 read API", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only. Searches see the appointments and schedules of the token's clinics only.",
                "security": {
                    "cors": False,
                    "description": "An OAuth 2.0 bearer token (OIDC) whose claims name the clinics it may read",
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                }
                            ]
                        }
                    ],
                },
                "resource": RESOURCES,
            }
        ],
    }
