"""Oracle node for the DePIN GPU compute protocol."""

__version__ = "0.1.0"
