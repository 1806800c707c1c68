"""A clinic with SIP addresses for the bridge's unit tests."""

from __future__ import annotations

from typing import Any

from frontdesk.common.contracts import ClinicConfig


def clinic(**phone: Any) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": "c1",
            "name": "Clinic",
            "timezone": "America/Chicago",
            "phone": {
                "answering_service": "va",
                "secondary_answering_service": "vb",
                "vendors": [
                    {"vendor_id": "va", "answer_target_seconds": 6},
                    {"vendor_id": "vb", "answer_target_seconds": 6},
                ],
                "vendor_handoff_seconds": 12,
                "receptionists": [{"receptionist_id": "r1"}, {"receptionist_id": "r2"}],
                "pools": [{"pool_id": "desk", "members": ["r1", "r2"], "offer_timeout_seconds": 4}],
                "sip": {
                    "numbers": ["+15550100"],
                    "receptionists": {"r1": "sip:r1@127.0.0.1:5081", "r2": "sip:r2@127.0.0.1:5082"},
                    "vendors": {"va": "sip:va@127.0.0.1:5091", "vb": "sip:vb@127.0.0.1:5092"},
                },
                **phone,
            },
        }
    )
