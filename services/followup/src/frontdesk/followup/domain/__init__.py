"""followup's pure rules: contact policy (consent, quiet hours, caps), templates, replies, planning.

Nothing here does I/O; every function takes the clock as an argument.
"""

from .planning import CHECK_IN_LOCAL_TIME, next_day_check_in

__all__ = ["CHECK_IN_LOCAL_TIME", "next_day_check_in"]
