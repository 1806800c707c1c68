"""reviews: a feedback and review request after every visit (no gating), service recovery, reputation."""
