"""scheduler's own Prometheus metrics: refusals and the patient loops. Labels are clinic ids only, never patient data.

Counters move just before their transaction commits; a commit that then fails and is retried may count
once more (metrics are not the record: the database is).

- fill rate of freed slots from the waitlist: waitlist_refills_total / waitlist_slots_offered_total;
- time from the cancellation to the refill: waitlist_refill_seconds;
- reschedule requests settled by the patient (their page) or by staff (the window closed):
  reschedule_requests_total{handled_by}: patient, staff, reminder_link;
- booking codes followup could not text, by reason: booking_code_failures_total{reason}.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HL7_HELD = Gauge(
    "frontdesk_hl7_held_messages", "HL7 messages held until their clinic's configuration arrives (hl7_held.py)"
)
HL7_HELD_OLDEST = Gauge(
    "frontdesk_hl7_held_oldest_seconds", "Age of the oldest HL7 message held for a clinic not configured yet"
)
REFUSALS = Counter(
    "frontdesk_scheduler_refusals_total",
    "Booking, move and waitlist commands refused, by reason (slot_taken = a booking conflict).",
    ["reason"],
)

SLOTS_OFFERED = Counter(
    "frontdesk_scheduler_waitlist_slots_offered_total",
    "Freed slots (cancellation, no-show, reschedule) offered to the waitlist.",
    ["clinic_id"],
)
REFILLS = Counter(
    "frontdesk_scheduler_waitlist_refills_total", "Freed slots booked by a waitlisted patient.", ["clinic_id"]
)
REFILL_SECONDS = Histogram(
    "frontdesk_scheduler_waitlist_refill_seconds",
    "From the slot's first offer (its cancellation) to the waitlisted patient's booking.",
    ["clinic_id"],
    buckets=(60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 24 * 3600, 3 * 24 * 3600),
)
RESCHEDULE_REQUESTS = Counter(
    "frontdesk_scheduler_reschedule_requests_total",
    'Reschedules settled, by who handled them: patient (a "3" moved on the page), staff (a task),'
    " reminder_link (moved from a reminder's link).",
    ["clinic_id", "handled_by"],
)
BOOKING_CODE_FAILURES = Counter(
    "frontdesk_scheduler_booking_code_failures_total",
    "Booking-page attempts ended because followup could not text their code (booking.code_failed), by reason.",
    ["clinic_id", "reason"],
)
