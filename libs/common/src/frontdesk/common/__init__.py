"""Frontdesk's shared plumbing: event contracts, Kafka and PostgreSQL wiring, logging, HTTP.

No domain logic lives here; each service keeps its own rules in its `domain` module.
"""
