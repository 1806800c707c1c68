"""phone-bridge: a SIP proxy rings the people the call-router picks."""
