"""Real AI work: the shared core of batch jobs and paid inference.

Modules: :mod:`~oracle.work.content` (SHA-256, CIDv1), :mod:`~oracle.work.blobs` (store, checked
fetch, blob server), :mod:`~oracle.work.items` (item bytes, the Merkle tree of
:mod:`oracle.challenge` over items), :mod:`~oracle.work.manifest` (canonical JSON, specHash,
schema), :mod:`~oracle.work.equality` (exact / tolerance rules), :mod:`~oracle.work.runtime` (ONNX
checked and run by ONNX Runtime), :mod:`~oracle.work.reference` (NumPy evaluation of the same
graphs), :mod:`~oracle.work.job` (the job's steps both sides share), :mod:`~oracle.work.digits` and
:mod:`~oracle.work.demo_model` (the demo data set and models this repository builds).
"""
