"""Fuzzing of every OpenAPI operation of the four services (issue 8): zero 5xx, zero schema violations.

Schemathesis reads each running service's /openapi.json and, for every operation, sends a bounded
number of generated requests (valid ones and ones that break the schema: path/query parameters,
headers, JSON bodies), then checks each response: not a 5xx, a status code the operation declares,
a declared content type, and a body that conforms to the declared schema. All failures of a
service are collected and reported together.

Requests carry a network-wide token (authorization has its own matrix tests, test_authz_*.py); the
rate-limited operations may answer 429, which they declare.

Some operations read a body the OpenAPI document does not describe, because it is not JSON
(`RAW_BODY_OPERATIONS`: HL7 v2 text, the SMS provider's form-encoded webhooks, the feedback form).
Schemathesis can only fuzz their parameters, so `test_raw_body_operations_survive_fuzzing` sends
them arbitrary text and bytes under a few content types with hypothesis and checks the same things.

This module runs last in the session (frontdesk.testing.plugin orders it after the personal-data scan,
whose subject is what the system does with real traffic, not with random strings).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from frontdesk.tools.stack import SERVICES, ServiceProcess

# Generated requests per operation (and per raw-body operation). Small and derandomized by default,
# so the module stays within a few minutes on two busy cores and sends the same requests every run;
# setting FRONTDESK_FUZZ_EXAMPLES (e.g. 200) runs a deeper search with fresh random requests.
EXAMPLES = int(os.environ.get("FRONTDESK_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="FRONTDESK_FUZZ_EXAMPLES" not in os.environ,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the report names each failing request
    suppress_health_check=list(HealthCheck),
)

# (service, "METHOD /path") -> why schemathesis cannot generate its body: it is not JSON.
RAW_BODY_OPERATIONS = {
    ("scheduler", "POST /v1/hl7/{clinic_id}"): "an HL7 v2 message (pipe-delimited text) read from the raw body",
    ("followup", "POST /v1/webhooks/sms"): "the SMS provider's form-encoded inbound-message webhook",
    ("followup", "POST /v1/webhooks/receipts"): "the SMS provider's form-encoded delivery-receipt webhook",
    ("reviews", "POST /v1/feedback/{token}"): "the patient's feedback form (form-encoded or JSON)",
    ("scheduler", "POST /p/reschedule/{token}"): "the patient's reschedule form (form-encoded)",
}


def _label(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_survives_fuzzing(service: str, running: dict[str, ServiceProcess]) -> None:
    url = running[service].url
    auth = running[service].auth_headers  # a network-wide token: the fuzzer probes input, not authorization
    # The document is on the operations port; the operations it lists are served on the public one.
    schema = schemathesis.openapi.from_url(running[service].ops_url + "/openapi.json")
    failures: list[str] = []
    labels: list[str] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"--- an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        labels.append(_label(operation))

        # Valid requests and invalid ones (wrong types, missing fields, out-of-range values): both
        # must get a declared answer, never a 5xx.
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @FUZZ_SETTINGS
        @given(case=cases)
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=url, checks=CHECKS, timeout=30, headers=auth)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports a FailureGroup
            failures.append(f"--- {_label(operation)}\n{exc}")
    # Every service serves at least the clinic directory (operations endpoints are not public).
    assert "GET /v1/clinics" in labels and not {"GET /healthz", "GET /readyz", "GET /metrics"} & set(labels), labels
    raw = {label for (svc, label) in RAW_BODY_OPERATIONS if svc == service}
    assert raw <= set(labels), f"stale RAW_BODY_OPERATIONS entries: {raw - set(labels)}"
    assert not failures, f"{len(failures)} of {len(labels)} operations of {service} failed:\n" + "\n".join(failures)


_BODIES = st.one_of(
    st.text(max_size=400).map(str.encode),
    st.binary(max_size=400),
    st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=6).map(
        lambda d: urllib.parse.urlencode(d).encode()
    ),
    # Something shaped like what these endpoints expect, with random fields.
    st.lists(st.text(alphabet="|^~\\&MSHPIDSCH0123456789ABZ \r", max_size=40), max_size=8).map(
        lambda parts: ("MSH|^~\\&|" + "\r".join(parts)).encode()
    ),
)
_CONTENT_TYPES = st.sampled_from(
    ["application/x-www-form-urlencoded", "application/json", "text/plain", "application/hl7-v2", ""]
)
# A path parameter is one segment: no "/" (Starlette decodes %2F, and the request would then be for
# another route) and not "." or ".." (which the client resolves away).
_PATH_VALUES = st.one_of(
    st.just("test-always-open"),
    st.text(st.characters(exclude_characters="/"), min_size=1, max_size=30).filter(lambda v: v.strip(".") != ""),
)


@pytest.mark.parametrize(("service", "label"), sorted(RAW_BODY_OPERATIONS))
def test_raw_body_operations_survive_fuzzing(service: str, label: str, running: dict[str, ServiceProcess]) -> None:
    method, template = label.split(" ", 1)
    url = running[service].url
    document = httpx.get(running[service].ops_url + "/openapi.json", timeout=30).json()
    declared = document["paths"][template][method.lower()]["responses"]
    failures: list[str] = []

    @FUZZ_SETTINGS
    @given(body=_BODIES, content_type=_CONTENT_TYPES, value=_PATH_VALUES)
    def fuzz(body: bytes, content_type: str, value: str) -> None:
        path = template
        while "{" in path:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + urllib.parse.quote(value, safe="") + path[end + 1 :]
        headers = {"content-type": content_type} if content_type else {}
        headers.update(running[service].auth_headers)
        response = httpx.request(method, url + path, content=body, headers=headers, timeout=30)
        sent = f"{method} {path} ({content_type or 'no content type'}, {body[:80]!r})"
        status = str(response.status_code)
        if response.status_code >= 500 or status not in declared:
            failures.append(f"{sent} -> {status}, declared: {sorted(declared)}")
            return
        media = response.headers.get("content-type", "").split(";")[0].strip()
        documented = set(declared[status].get("content", {}))
        if response.content and documented and media not in documented:
            failures.append(f"{sent} -> {status} {media}, declared: {sorted(documented)}")

    fuzz()
    assert not failures, f"{len(failures)} failing requests:\n" + "\n".join(failures[:20])
