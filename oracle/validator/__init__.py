"""The validator's wing: the daemon ``oracle run`` and everything it uses to judge providers.

- :mod:`~oracle.validator.daemon`: the epoch loop (challenge, sign, gather k signatures, post).
- :mod:`~oracle.validator.batch`: batch rounds (one quorum-signed Merkle root per epoch).
- :mod:`~oracle.validator.peers`: the peer server for signatures and proofs, and its client.
- :mod:`~oracle.validator.prober`: challenging one provider (``run_challenge``, ``ChallengeProber``).
- :mod:`~oracle.validator.client`: the HTTP client of a provider (``ProviderClient``).
- :mod:`~oracle.validator.figures`: the figures a provider reports; :mod:`~oracle.validator.attesting`
  turns them into the attestation (or fault) every validator signs identically.
- :mod:`~oracle.validator.anomaly` (with :mod:`~oracle.validator.anomaly_model`,
  :mod:`~oracle.validator.evidence`, :mod:`~oracle.validator.robust`): the network watching itself,
  a per-node anomaly score and the multiplier of its attested score; :mod:`~oracle.validator.history`
  reads its evidence from the chain, :mod:`~oracle.validator.anomaly_view` keeps the daemon's view;
  :mod:`~oracle.validator.anomaly_latency` (the latency tests) and
  :mod:`~oracle.validator.latency_flags` (each validator's own timings, flagged k of n on chain).
- :mod:`~oracle.validator.nodes`: discovering the registered nodes on chain.
- :mod:`~oracle.validator.config`: the daemon's settings; :mod:`~oracle.validator.observability`:
  metrics and JSON logs.
"""
