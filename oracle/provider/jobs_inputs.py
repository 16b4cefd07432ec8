"""What the job agent loads for a job before it accepts: the model and the inputs, fetched and
checked (the model's SHA-256 is the NFT id, the inputs' file hash and item root are the
manifest's; the model against the manifest), kept for the next job on the same files, and this
node's measured speed on the model (for the deadline check)."""

from __future__ import annotations

import time
from collections.abc import Callable

from oracle.provider.jobs_policy import JobPolicy
from oracle.work import job as work
from oracle.work.arrivals import Arrivals
from oracle.work.blobs import Fetcher
from oracle.work.manifest import Manifest
from oracle.work.runtime import OnnxModel


class JobInputs:
    def __init__(self, fetcher: Fetcher, policy: JobPolicy):
        self.fetcher, self.policy = fetcher, policy
        self.models: dict[int, OnnxModel] = {}
        self.flops: dict[int, float] = {}
        self.last_inputs: dict[bytes, bytes] = {}

    def fetch_and_check(
        self, manifest: Manifest, defer_tree: bool = False
    ) -> tuple[OnnxModel, bytes, Callable[[], None] | None]:
        """The model and the inputs, checked (hashes, the model against the manifest). The input
        item tree is checked here, or -- ``defer_tree``, after a restart once the job is accepted
        -- returned as a check for :func:`run_chunks` to overlap with the inference."""
        model = self.models.get(manifest.model_id)
        if model is None:
            data = self.fetcher.fetch(manifest.model)
            model = OnnxModel(data, device=self.policy.device, spinning=False)  # see jobs_compute
            self.models[manifest.model_id] = model
        work.check_model(manifest, model)
        blob = manifest.inputs.blob
        assert blob is not None
        inputs = self.last_inputs.get(blob.digest)
        if inputs is not None:  # fetched and checked once per agent run (a restart checks again)
            return model, inputs, None
        digest = blob.digest
        self.last_inputs = {}  # the last job's buffer free for this one's (oracle.work.arrivals)

        def check_tree(arrivals: Arrivals) -> None:
            work.check_input_root(manifest, arrivals)

        if not defer_tree:  # the tree hashed while the file arrives, beside its SHA-256
            inputs = self.fetcher.fetch(blob, alongside=check_tree, buffer=True, keep_later=True)
            self.last_inputs = {digest: inputs}  # the last job's inputs only: bounded memory
            return model, inputs, None
        inputs = self.fetcher.fetch(blob, buffer=True, keep_later=True)

        def deferred() -> None:
            check_tree(Arrivals.complete(inputs))
            self.last_inputs = {digest: inputs}

        return model, inputs, deferred

    def throughput(self, model: OnnxModel, inputs: bytes, manifest: Manifest) -> float:
        """FLOP/s of this model here (the config's ``flops_per_s``, else measured once per model on up
        to 256 of the job's items): what the deadline check prices the job at."""
        if self.policy.flops_per_s > 0:
            return self.policy.flops_per_s
        if manifest.model_id not in self.flops:
            x = work.input_array(manifest, inputs)[: min(manifest.inputs.count, 256)]
            model.run(x)  # warm-up
            t0 = time.perf_counter()
            model.run(x, batch_size=self.policy.batch_size)
            self.flops[manifest.model_id] = (
                len(x) * manifest.flops_per_item / max(time.perf_counter() - t0, 1e-9)
            )
        return self.flops[manifest.model_id]
