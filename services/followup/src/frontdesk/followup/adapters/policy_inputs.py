"""What the contact policy weighs for one message, read in one round trip: the patient's contact
details and consent ledger, the sends of the same purpose within the caps' lookback, and how many
messages the clinic sent today (its daily limit). A send is mostly waiting; four reads were four."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row

from ..domain.consent import ConsentEntry


@dataclass(frozen=True)
class Contact:
    """How to reach a patient (`contacts`), as a clinic registered it or a verified number set it."""

    phone: str | None
    email: str | None = None
    timezone: str | None = None  # the patient's IANA zone, if not the clinic's
    state: str | None = None
    preferred_channel: Literal["sms", "email"] = "sms"


@dataclass(frozen=True)
class PolicyInputs:
    contact: Contact | None
    ledger: list[ConsentEntry]
    sent_same_purpose: list[datetime]
    clinic_sent_today: int


# The ledger in id order (the order `consent.latest` breaks ties by), as parallel arrays.
_SQL = """
SELECT c.patient_id IS NOT NULL AS has_contact, c.phone, c.email, c.timezone, c.state, c.preferred_channel,
  l.purposes, l.opted_in, l.recorded_at, l.sources,
  ARRAY(SELECT sent_at FROM messages WHERE patient_id = $1 AND purpose = $2 AND status = 'sent' AND sent_at > $3)
    AS sent_same_purpose,
  (SELECT count(*) FROM messages WHERE clinic_id = $4 AND status = 'sent' AND sent_at >= $5)::int AS clinic_sent_today
FROM (SELECT 1) AS one
LEFT JOIN contacts c ON c.patient_id = $1
CROSS JOIN LATERAL (
  SELECT array_agg(purpose ORDER BY id) AS purposes, array_agg(opted_in ORDER BY id) AS opted_in,
    array_agg(recorded_at ORDER BY id) AS recorded_at, array_agg(source ORDER BY id) AS sources
  FROM consent_ledger WHERE patient_id = $1
) AS l
"""


async def read(
    conn: Connection, patient_id: str, purpose: str, sent_since: datetime, clinic_id: str, day_start: datetime
) -> PolicyInputs:
    row = await conn.fetchrow(_SQL, patient_id, purpose, sent_since, clinic_id, day_start)
    assert row is not None  # one row, always
    contact = from_row(Contact, row) if row["has_contact"] else None
    ledger = [
        ConsentEntry(p, opted_in, at, source)
        for p, opted_in, at, source in zip(
            row["purposes"] or (), row["opted_in"] or (), row["recorded_at"] or (), row["sources"] or (), strict=True
        )
    ]
    return PolicyInputs(contact, ledger, list(row["sent_same_purpose"]), row["clinic_sent_today"])
