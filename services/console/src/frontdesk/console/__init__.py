"""The staff console: its own read model of the call events, served as live HTML pages."""
