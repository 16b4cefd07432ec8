"""The provider's wing: what a GPU node runs to be paid for its compute.

- :mod:`oracle.provider.backends`: the compute backends (NumPy on the CPU, PyTorch on CUDA).
- :mod:`oracle.provider.behaviours`: the misbehaviour modes for tests and fault drills.
- :mod:`oracle.provider.server`: the HTTP server validators challenge (:class:`ProviderServer`).
- :mod:`oracle.provider.paid` (+ ``paid_check``, ``paid_ledger``, ``paid_log``, ``paid_state``,
  ``paid_redeem``, ``paid_service``): the paid inference endpoint, paid per request over payment
  channels.

The validator's side of the same HTTP API is :mod:`oracle.validator.client`.
"""
