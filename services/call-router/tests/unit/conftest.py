"""Shared fixtures of call-router's unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from frontdesk.call_router.domain.lifecycle import StoredCall

StoredCallFactory = Callable[..., StoredCall]
BLANK = StoredCall(
    call_id="call-1",
    clinic_id="c1",
    received_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
    status="ringing",
    attempt=1,
    tried=(),
    vendor_id=None,
    ringing=(),
    offer_keys=(),
    offer_pool=None,
    answer_by=datetime(2026, 12, 7, 9, 0, 18, tzinfo=UTC),
    intent="other",
    language=None,
    caller_token=None,
    patient_id=None,
    answered_at=None,
    answered_by_kind=None,
    answered_by_id=None,
)


@pytest.fixture
def stored_call() -> StoredCallFactory:
    """A stored call: a ringing one of clinic c1 with the fields given changed (lists as tuples)."""

    def make(**changes: Any) -> StoredCall:
        return replace(BLANK, **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})

    return make
