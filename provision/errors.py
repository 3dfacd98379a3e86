"""Errors the user sees as one line on stderr; each kind has its exit status."""


class RehearseError(Exception):
    """Something the rehearsal could not do; the message is the whole line the user reads."""

    exit_code = 2


class UsageError(RehearseError, ValueError):
    """Bad input: an unknown platform, mode or target, a value that may not reach a guest."""


class DriverError(RehearseError):
    """A guest could not be created or reached (a missing tool included)."""
