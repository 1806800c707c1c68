"""Shared fixtures for the common library's unit tests: one valid instance of every event type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.common.contracts import (
    BOOKING_CODES_RECIPIENT,
    AgentAutoPaused,
    AgentStatusChanged,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentHeld,
    AppointmentNoShow,
    AppointmentRejected,
    AppointmentReminderDue,
    AppointmentReplyReceived,
    AppointmentRequested,
    AppointmentRescheduled,
    BookingCodeFailed,
    BookingCodeRequested,
    BookingContactVerified,
    BookingLinkRequested,
    CallAbandoned,
    CallAnswered,
    CallbackCompleted,
    CallbackRequested,
    CallDeclined,
    CallEnded,
    CallOffered,
    CallOverflowed,
    CallReceived,
    CallRouted,
    CallWithdrawn,
    ClinicConfig,
    ClinicConfigured,
    ContactPreferenceChanged,
    Event,
    FollowupCancelled,
    FollowupEscalated,
    FollowupFailed,
    FollowupScheduled,
    FollowupSent,
    Hl7Quarantined,
    MessageRequested,
    MessageSent,
    MessageSkipped,
    RescheduleRequested,
    RescheduleTaskOpened,
    ReviewRequested,
    StaffingForecast,
    StaffingHour,
    VisitCompleted,
    WaitlistOfferClosed,
    WaitlistOffered,
    booking_code_aad,
    booking_contact_aad,
    booking_link_aad,
)
from frontdesk.common.contracts.calls import NetworkConfigured
from frontdesk.common.contracts.phone import NetworkFallback, Vendor
from frontdesk.common.contracts.reviews import (
    RecoveryClosed,
    ReputationFigures,
    ReputationSummary,
    ReviewEscalated,
    ReviewReceived,
    ReviewScheduled,
    ReviewSkipped,
)
from frontdesk.common.contracts.vendors import (
    MessageAcknowledged,
    MessageDigestReleased,
    OnCallPageRequested,
    VendorAppointmentRequested,
    VendorHeartbeat,
    VendorMessageTaken,
    VendorPageAcknowledged,
    VendorPageSent,
)
from frontdesk.common.sealing import Keyring

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
        Hl7Quarantined(
            clinic_id="clinic-1",
            sending_facility="EHR-1",
            control_id="MSG-0001",
            message_type="SIU^S13",
            reason="unknown appointment E-77: quarantined for review",
            received_at=T0,
        ),
        AppointmentHeld(
            appointment_id="appt-2",
            clinic_id="clinic-1",
            provider_id="dr-1",
            appointment_type="checkup",
            held_at=T0,
            expires_at=T0 + timedelta(minutes=5),
            **window,
        ),
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
        NetworkConfigured(
            fallback=NetworkFallback(
                answering_service="answering-1",
                secondary_answering_service="answering-2",
                vendors=[Vendor(vendor_id="answering-1", answer_target_seconds=10), Vendor(vendor_id="answering-2")],
            )
        ),
        VendorMessageTaken(
            message_id="msg-1",
            vendor_id="answering-1",
            clinic_id="clinic-1",
            call_id="call-1",
            caller_token="tok_9f8e7d",
            urgency="urgent",
            category="clinical_question",
            callback_needed=True,
            taken_at=T0,
        ),
        VendorAppointmentRequested(
            request_id="vreq-1", vendor_id="answering-1", appointment_type="checkup", **people, **window
        ),
        VendorPageSent(
            page_id="msg-1:0:0",
            message_id="msg-1",
            vendor_id="answering-1",
            clinic_id="clinic-1",
            provider_id="dr-1",
            sent_at=T0,
        ),
        VendorPageAcknowledged(
            message_id="msg-1",
            vendor_id="answering-1",
            clinic_id="clinic-1",
            provider_id="dr-1",
            acknowledged_at=T0 + timedelta(minutes=3),
        ),
        VendorHeartbeat(vendor_id="answering-1", sent_at=T0),
        OnCallPageRequested(
            page_id="msg-1:1:0",
            message_id="msg-1",
            clinic_id="clinic-1",
            vendor_id="answering-1",
            provider_id="dr-2",
            step=1,
            resend=0,
            escalated=True,
            requested_at=T0 + timedelta(minutes=15),
        ),
        MessageDigestReleased(digest_id="dg-1", clinic_id="clinic-1", message_ids=["msg-2"], released_at=T0),
        MessageAcknowledged(
            message_id="msg-2", digest_id="dg-1", clinic_id="clinic-1", staff_id="staff-1", acknowledged_at=T0
        ),
        CallOffered(
            call_id="call-1",
            clinic_id="clinic-1",
            target_kind="receptionist",
            target_id="rec-1",
            pool_id="front-desk",
            ring_timeout_seconds=6,
            offered_at=T0,
            attempt=1,
        ),
        CallOverflowed(
            call_id="call-1",
            clinic_id="clinic-1",
            vendor_id="answering-1",
            reason="after_hours",
            overflowed_at=T0,
            answer_by=T0 + timedelta(seconds=18),
            caller_token="tok_9f8e7d",
        ),
        CallWithdrawn(
            call_id="call-1",
            clinic_id="clinic-1",
            vendor_id="answering-2",
            reason="answered_elsewhere",
            withdrawn_at=T0 + timedelta(seconds=13),
        ),
        CallAnswered(
            call_id="call-1",
            clinic_id="clinic-1",
            answered_at=T0 + timedelta(seconds=4),
            answered_by_kind="receptionist",
            answered_by_id="rec-1",
        ),
        CallAbandoned(call_id="call-2", clinic_id="clinic-1", abandoned_at=T0 + timedelta(seconds=9)),
        CallDeclined(call_id="call-1", clinic_id="clinic-1", attempt=1, reason="busy", declined_at=T0),
        CallEnded(call_id="call-1", clinic_id="clinic-1", ended_at=T0 + timedelta(minutes=3)),
        AgentStatusChanged(clinic_id="clinic-1", receptionist_id="rec-1", status="available", changed_at=T0),
        AgentAutoPaused(clinic_id="clinic-1", receptionist_id="rec-1", call_id="call-1", paused_at=T0),
        StaffingForecast(
            forecast_id="fc-1",
            clinic_id="clinic-1",
            generated_at=T0,
            weeks=4,
            target_service_level=0.9,
            target_seconds=18,
            shrinkage=0.3,
            hours=[
                StaffingHour(
                    weekday=0,
                    hour=9,
                    arrivals_per_hour=40,
                    aht_seconds=240,
                    agents=6,
                    scheduled=9,
                    service_level=0.952,
                )
            ],
        ),
        CallbackRequested(
            callback_id="cb-1",
            clinic_id="clinic-1",
            caller_token="tok_9f8e7d",
            reason="abandoned_call",
            requested_at=T0,
        ),
        # scheduler samples (new scheduling events go here)
        WaitlistOffered(
            offer_id="offer-1",
            waitlist_id="wl-1",
            appointment_type="checkup",
            expires_at=T0 + timedelta(minutes=15),
            **people,
            **window,
        ),
        WaitlistOfferClosed(
            offer_id="offer-1", waitlist_id="wl-1", patient_id="patient-7", clinic_id="clinic-1", outcome="taken"
        ),
        AppointmentCancelled(
            appointment_id="appt-1", starts_at=window["starts_at"], cancelled_at=T0, late=False, **people
        ),
        AppointmentRescheduled(appointment_id="appt-1", previous_starts_at=window["starts_at"], **people, **window),
        RescheduleRequested(
            reschedule_id="rs-1", appointment_id="appt-1", starts_at=window["starts_at"], expires_at=T0, **people
        ),
        RescheduleTaskOpened(
            reschedule_id="rs-1",
            appointment_id="appt-1",
            starts_at=window["starts_at"],
            opened_at=T0,
            due_at=T0,
            **people,
        ),
        AppointmentCheckedIn(appointment_id="appt-1", checked_in_at=T0, **people),
        AppointmentNoShow(appointment_id="appt-1", starts_at=window["starts_at"], **people),
        AppointmentReminderDue(
            appointment_id="appt-1", reminder_id="rem-appt-1-P2D", starts_at=window["starts_at"], offset="P2D", **people
        ),
        AppointmentReplyReceived(appointment_id="appt-1", reply="confirm", received_at=T0, **people),
        # followup samples (new followup and messaging events go here)
        BookingCodeRequested(
            verification_id="bk-1",
            clinic_id="clinic-1",
            expires_at=T0,
            sealed=Keyring()
            .rotated(BOOKING_CODES_RECIPIENT, "k1", b"k" * 32)
            .seal(
                BOOKING_CODES_RECIPIENT,
                '{"phone": "+14155550123", "code": "123456"}',
                booking_code_aad("clinic-1", "bk-1"),
            ),
        ),
        BookingContactVerified(
            verification_id="bk-1",
            clinic_id="clinic-1",
            patient_id="web-1",
            appointment_id="appt-1",
            registered_by=["clinic-1"],
            verified_at=T0,
            sealed=Keyring()
            .rotated(BOOKING_CODES_RECIPIENT, "k1", b"k" * 32)
            .seal(
                BOOKING_CODES_RECIPIENT, '{"phone": "+14155550123"}', booking_contact_aad("clinic-1", "bk-1", "web-1")
            ),
        ),
        BookingCodeFailed(verification_id="bk-1", clinic_id="clinic-1", reason="undeliverable", failed_at=T0),
        BookingLinkRequested(
            link_id="bl-1",
            clinic_id="clinic-1",
            expires_at=T0,
            requested_at=T0,
            sealed=Keyring()
            .rotated(BOOKING_CODES_RECIPIENT, "k1", b"k" * 32)
            .seal(BOOKING_CODES_RECIPIENT, '{"phone": "+14155550123"}', booking_link_aad("clinic-1", "bl-1")),
        ),
        FollowupSent(
            followup_id="fu-1",
            patient_id="patient-7",
            clinic_id="clinic-1",
            kind="check_in",
            message_request_id="fu-1",
            channel="sms",
            sent_at=T0,
        ),
        FollowupFailed(
            followup_id="fu-2",
            patient_id="patient-7",
            clinic_id="clinic-1",
            kind="recall",
            message_request_id="fu-2",
            reason="opted_out",
            failed_at=T0,
        ),
        FollowupCancelled(
            followup_id="fu-3",
            patient_id="patient-7",
            clinic_id="clinic-1",
            kind="reminder",
            reason="appointment_rescheduled",
            cancelled_at=T0,
        ),
        FollowupEscalated(
            task_id="cb-1", clinic_id="clinic-1", reason="callback_overdue", urgency="urgent", escalated_at=T0
        ),
        CallbackCompleted(callback_id="cb-1", clinic_id="clinic-1", completed_at=T0),
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
        ReviewScheduled(review_request_id="rr-visit-1", visit_id="visit-1", send_at=T0 + timedelta(hours=2), **people),
        ReviewSkipped(review_request_id="rr-visit-2", visit_id="visit-2", reason="opted_out", skipped_at=T0, **people),
        ReviewReceived(
            review_request_id="rr-visit-1", visit_id="visit-1", scale="stars", score=2, received_at=T0, **people
        ),
        ReviewEscalated(
            review_request_id="rr-visit-1",
            visit_id="visit-1",
            recovery_task_id="rt-rr-visit-1",
            level=1,
            scale="stars",
            score=2,
            due_at=T0 + timedelta(hours=24),
            escalated_at=T0,
            **people,
        ),
        RecoveryClosed(
            recovery_task_id="rt-rr-visit-1",
            review_request_id="rr-visit-1",
            clinic_id="clinic-1",
            provider_id="dr-lee",
            closed_at=T0 + timedelta(hours=3),
            within_deadline=True,
        ),
        ReputationSummary(
            clinic_id="clinic-1",
            week="2026-W48",
            clinic=ReputationFigures(requests_sent=2, responses=1, response_rate=0.5, escalations=0),
            computed_at=T0,
        ),
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
