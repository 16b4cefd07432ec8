"""The stateful fuzzer of the governed protocol (entry: tests/test_fuzz_protocol.py).

- ``params``      constants and the governed values it deploys with
- ``model``       the Python model of what every account, provider, job and listing must hold
- ``world``       the deployed contracts, actors and a plain-web3 transaction layer with exact
                  revert decoding
- ``setup``       builds the world once per module: deployment, funding, the base jobs
- ``base``        the state machine's core: the weighted operation rule and the money rules
                  (fees, royalties, slashes) applied to the model
- ``ops_staking``, ``ops_escrow``, ``ops_market``, ``ops_oracle``  the operations per contract
- ``invariants``  what must hold after every step
- ``machine``     ``ProtocolMachine``, the operations and invariants put together
- ``stats``       counts written to test-artifacts/fuzz-stats.json
"""
