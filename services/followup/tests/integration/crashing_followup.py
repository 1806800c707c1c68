"""followup with a channel that dies mid-send, for test_followup_crash: while the file named by
CRASH_AFTER_SEND exists, the process SIGKILLs itself right after the provider accepted a message and
before followup recorded it (the file is removed first, so it fires once).

Run as a script: `python services/followup/tests/integration/crashing_followup.py` with followup's environment."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from frontdesk.followup.adapters.channels import Channel, DeliveryResult, Outgoing, get_channel, set_channel
from frontdesk.followup.entrypoints.main import main


class CrashAfterSend:
    def __init__(self, provider: Channel, marker: Path) -> None:
        self.provider, self.marker = provider, marker

    async def send(self, message: Outgoing) -> DeliveryResult:
        result = await self.provider.send(message)
        if self.marker.exists():
            self.marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        return result


if __name__ == "__main__":
    set_channel(CrashAfterSend(get_channel(), Path(os.environ["CRASH_AFTER_SEND"])))
    main()
