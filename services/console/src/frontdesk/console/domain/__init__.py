"""Pure rules of the console: the day's phone metrics, a call's state, the signed session."""
