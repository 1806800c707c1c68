"""followup: reminders, post-visit check-ins, recalls and callbacks, with consent and quiet hours."""
