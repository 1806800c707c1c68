"""The scheduler's side of the integration tests that other packages' tests use too: an HL7 v2 message."""

from __future__ import annotations

HL7_MEDIA = "x-application/hl7-v2+er7"


def hl7_update(control_id: str) -> bytes:
    """An S13 for an appointment nobody booked: answered AE and quarantined, nothing else changes."""
    return "\r".join(
        [
            f"MSH|^~\\&|EHR|SITE|FRONTDESK|SCHEDULER|20261127083000||SIU^S13^SIU_S12|{control_id}|P|2.5.1",
            f"SCH|PL-{control_id}^EHR|FL-{control_id}^EHR|||||ROUTINE|CHECKUP|30|min|^^30^20330307100000"
            + "|" * 14
            + "BOOKED",
            "PID|1||MRN-1^^^EHR^MR",
            "AIS|1|A|CHECKUP^Checkup|20330307100000|||30|min",
        ]
    ).encode()
