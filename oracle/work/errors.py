"""Errors of the real-work core (:mod:`oracle.work`): one root, one subclass per concern.

Every message says what was wrong and what to do. ``exit_code`` follows :mod:`oracle.errors`
(2: the input given was unusable, 3: something outside the program misbehaved)."""

from __future__ import annotations

from oracle.errors import EXIT_OPERATIONAL, EXIT_USAGE, OracleError


class WorkError(OracleError):
    """Root of the errors of :mod:`oracle.work` (models, manifests, blobs, items)."""

    exit_code: int = EXIT_OPERATIONAL


class ManifestError(WorkError):
    """A job manifest is malformed, too large, or cannot be run as written."""

    exit_code = EXIT_USAGE


class ModelError(WorkError):
    """A model file is not ONNX, fails the ONNX checker, or cannot be loaded by the runtime."""

    exit_code = EXIT_USAGE


class InputError(WorkError):
    """Inputs have the wrong name, dtype, shape or size for the model or the manifest."""

    exit_code = EXIT_USAGE


class BlobError(WorkError):
    """A content-addressed file is missing, unreachable, or its bytes do not match its address."""


class BlobMismatch(BlobError):
    """Bytes handed over under a content address hash to another address."""


class ProofError(WorkError):
    """An item opening does not verify against the committed Merkle root."""
