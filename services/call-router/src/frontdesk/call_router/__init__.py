"""call-router: routes every call to a live human inside the ring budget, never to voicemail."""
