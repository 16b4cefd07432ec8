"""The devnet's one error: a step failed; the message says which and what to do."""


class DevnetError(Exception):
    """A step of the devnet failed; the message says which and what to do."""
