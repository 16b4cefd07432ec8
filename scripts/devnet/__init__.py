"""The local devnet in one command: `python -m scripts.devnet` (= `make demo`).

It starts anvil on a free port, compiles and deploys every contract through `deploy_governed_protocol`
(the same code the tests use), writes `.devnet/deployment.json`, starts a provider agent
(`oracle serve`) registered on chain, three validators (`oracle run`, threshold 2), waits for the
first epoch's attestation, mints a model NFT and runs a sample job to settlement, then builds and
serves the web page on 127.0.0.1 and prints what ran. Ctrl-C (or SIGTERM) stops every process it
started. `--once` does the same, prints the summary and exits 0.

Every child runs in its own process group, recorded in `.devnet/pids.json`, so a second run (or
`python -m scripts.devnet --stop`) kills a stale devnet first and always starts from a fresh chain.
Only anvil's well-known dev accounts are used: never put a real key here.

Modules: ``cli`` (the command), ``paths``, ``accounts`` (dev keys and roles), ``processes``
(process groups, stale devnets), ``anvil`` (chain, compile, Ape), ``deploying`` (parameters from
the DAO's devnet values, the deployment file), ``flow`` (the walk-through) with its steps
``provider_node``, ``validators`` and ``samples``, ``page`` (build and serve the page).
"""
