"""Event contracts: one module per domain (its events and its section of the clinic configuration),
the type/topic registry, and the clinic configuration document.

Import events from here (`from frontdesk.common.contracts import CallReceived`) or from their module.
"""

from .base import Event as Event
from .base import Id as Id
from .base import Section as Section
from .base import Timestamp as Timestamp
from .base import Window as Window
from .calls import *  # noqa: F403
from .clinic import (
    ClinicConfig as ClinicConfig,
)
from .clinic import (
    ClinicConfigured as ClinicConfigured,
)
from .clinic import (
    OpeningInterval as OpeningInterval,
)
from .followup import *  # noqa: F403
from .messaging import *  # noqa: F403
from .phone import *  # noqa: F403
from .registry import (
    EVENTS as EVENTS,
)
from .registry import (
    EventSpec as EventSpec,
)
from .registry import (
    TopicSpec as TopicSpec,
)
from .registry import (
    all_topics as all_topics,
)
from .registry import (
    dlq_topic as dlq_topic,
)
from .registry import (
    spec_for as spec_for,
)
from .registry import (
    vendor_topics as vendor_topics,
)
from .reviews import *  # noqa: F403
from .scheduling import *  # noqa: F403
from .sip import SipSection as SipSection
from .vendors import *  # noqa: F403
