"""The package's one error root and the exit codes of the ``oracle`` command.

Every error the package raises derives from :class:`OracleError`; each carries the exit code
the CLI returns for it, so ``oracle`` reports every one of them the same way: one line
``oracle: error: <message>`` (the message says what to do), the class's ``exit_code``, a traceback
only with ``--debug``.

The provider errors live here because both wings use them: the provider raises
:class:`ProviderError` for a server it cannot start as configured, the validator's client raises
its three subclasses for a provider that cannot be used.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_OPERATIONAL = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130


class OracleError(Exception):
    """Root of every error of the package. ``exit_code`` is what ``oracle`` exits with; the
    default is an operational error (something outside the program is missing or misbehaving)."""

    exit_code: int = EXIT_OPERATIONAL


class ProviderError(OracleError):
    """The provider could not be used (the message says what happened and what to do)."""


class ProviderUnreachable(ProviderError):
    """No connection could be made to the provider."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within the client's timeout."""


class ProviderProtocolError(ProviderError):
    """The provider answered something that is not the expected JSON (or an HTTP error)."""
