"""Shared fixtures for the common library's unit tests: one valid instance of every event type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentNoShow,
    AppointmentRejected,
    AppointmentReminderDue,
    AppointmentReplyReceived,
    AppointmentRequested,
    AppointmentRescheduled,
    CallbackRequested,
    CallReceived,
    CallRouted,
    ClinicConfig,
    ClinicConfigured,
    ContactPreferenceChanged,
    Event,
    FollowupScheduled,
    MessageRequested,
    MessageSent,
    MessageSkipped,
    ReviewRequested,
    VisitCompleted,
)

T0 = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)


def _clinic_doc() -> dict[str, object]:
    return {
        "clinic_id": "clinic-1",
        "name": "Maple Street Family Practice",
        "timezone": "America/New_York",
        "hours": {"mon": ["08:00-12:00", "13:00-17:00"], "sat": ["09:00-12:00"]},
        "closures": ["2026-12-25"],
        "phone": {"answering_service": "answering-1"},
        "providers": [{"provider_id": "dr-lee"}],
    }


def _samples() -> dict[str, Event]:
    window = {"starts_at": T0 + timedelta(days=3), "ends_at": T0 + timedelta(days=3, minutes=30)}
    people = {"patient_id": "patient-7", "clinic_id": "clinic-1", "provider_id": "dr-lee"}
    events: list[Event] = [
        ClinicConfigured(clinic_id="clinic-1", config=ClinicConfig.model_validate(_clinic_doc())),
        CallReceived(
            call_id="call-1",
            clinic_id="clinic-1",
            received_at=T0,
            caller_token="tok_9f8e7d",
            intent="appointment",
            language="en-US",
        ),
        CallRouted(
            call_id="call-1",
            clinic_id="clinic-1",
            target_kind="pool",
            target_id="front-desk",
            reason="open_hours",
            answer_by=T0 + timedelta(seconds=18),
        ),
        AppointmentRequested(request_id="req-1", appointment_type="checkup", **people, **window),
        AppointmentBooked(appointment_id="appt-1", request_id="req-1", appointment_type="checkup", **people, **window),
        AppointmentRejected(request_id="req-2", reason="slot_taken", detail="the slot is taken", **people),
        VisitCompleted(visit_id="visit-1", appointment_id="appt-1", completed_at=T0, **people),
        FollowupScheduled(
            followup_id="fu-1",
            patient_id="patient-7",
            clinic_id="clinic-1",
            kind="check_in",
            due_at=T0 + timedelta(days=1),
            visit_id="visit-1",
        ),
        ReviewRequested(review_request_id="rr-visit-1", visit_id="visit-1", send_at=T0 + timedelta(hours=2), **people),
        # call-router samples (new call-router events go here)
        CallbackRequested(
            callback_id="cb-1",
            clinic_id="clinic-1",
            caller_token="tok_9f8e7d",
            reason="abandoned_call",
            requested_at=T0,
        ),
        # scheduler samples (new scheduling events go here)
        AppointmentCancelled(
            appointment_id="appt-1", starts_at=window["starts_at"], cancelled_at=T0, late=False, **people
        ),
        AppointmentRescheduled(appointment_id="appt-1", previous_starts_at=window["starts_at"], **people, **window),
        AppointmentCheckedIn(appointment_id="appt-1", checked_in_at=T0, **people),
        AppointmentNoShow(appointment_id="appt-1", starts_at=window["starts_at"], **people),
        AppointmentReminderDue(
            appointment_id="appt-1", reminder_id="rem-appt-1-P2D", starts_at=window["starts_at"], offset="P2D", **people
        ),
        AppointmentReplyReceived(appointment_id="appt-1", reply="confirm", received_at=T0, **people),
        # followup samples (new followup and messaging events go here)
        MessageRequested(
            message_request_id="msg-1",
            requested_by="reviews",
            patient_id="patient-7",
            clinic_id="clinic-1",
            purpose="feedback",
            template="review-request",
            variables={"link": "https://r.example/x"},
        ),
        MessageSent(
            message_request_id="msg-1",
            requested_by="reviews",
            patient_id="patient-7",
            clinic_id="clinic-1",
            channel="sms",
            sent_at=T0,
        ),
        MessageSkipped(
            message_request_id="msg-2",
            requested_by="reviews",
            patient_id="patient-7",
            clinic_id="clinic-1",
            reason="opted_out",
        ),
        ContactPreferenceChanged(patient_id="patient-7", purpose="feedback", opted_in=False, changed_at=T0),
        # reviews samples (new reviews events go here)
    ]
    return {e.event_type: e for e in events}


@pytest.fixture
def samples() -> dict[str, Event]:
    """event type -> one valid instance of that event."""
    return _samples()


@pytest.fixture
def clinic_doc() -> dict[str, object]:
    """A valid clinic configuration document, as YAML would give it (short-form hours); a fresh copy."""
    return _clinic_doc()
