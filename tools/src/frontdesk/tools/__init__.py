"""The frontdesk command line: apply clinic configuration, run the local stack, the demo."""
