"""Fault injection under simulated load (a package, so that its stack fixture is torn down with it)."""
