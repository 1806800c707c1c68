"""What the services' HTTP error responses look like, declared once for every OpenAPI document.

FastAPI answers errors with `{"detail": ...}`: a message (HTTPException) or a list of validation
errors (request validation). Its default 422 schema only allows the list, and status codes a route
raises (404, 409, ...) are not declared at all; the API fuzzing test (tests/integration/
test_api_fuzz.py) holds every response to the declared schema. A router declares the codes it
answers with: `APIRouter(..., responses=error_responses(404, 409, 422))`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_DESCRIPTIONS = {
    400: "Malformed request (e.g. a body that is not JSON)",
    401: "Missing, expired or invalid credentials (bearer token or signature)",
    403: "The token does not allow this: another clinic's data, or a read-only token",
    404: "Not found",
    409: "Conflict with the current state",
    410: "Gone: no longer usable",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input: what is wrong, as a message or a list of validation errors",
    429: "Rate limit exceeded: retry after the Retry-After header's seconds",
    503: "Temporarily unavailable (e.g. the audit trail cannot be written): retry",
}


class ErrorBody(BaseModel):
    detail: str | list[dict[str, Any]]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`codes`, and always 400: FastAPI's answer to a body that is not JSON at all."""
    return {
        code: {"model": ErrorBody, "description": _DESCRIPTIONS.get(code, "Error")} for code in sorted({400, *codes})
    }
