"""scheduler: slots, holds and bookings with no double booking, ever; the visit lifecycle."""
