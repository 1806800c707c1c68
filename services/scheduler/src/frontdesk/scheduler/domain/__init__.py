"""scheduler's rules that need no I/O: booking (what may be booked where and when, the visit
lifecycle's transitions, reminders), slots (templates, buffers, free slots), fhir (resources)."""
