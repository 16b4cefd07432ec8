"""Helpers shared by the DAO / marketplace tests."""

from dataclasses import dataclass

from eth_utils import keccak

# ------------------------------------------------------------------ governance

PENDING, ACTIVE, CANCELED, DEFEATED, SUCCEEDED, QUEUED, EXPIRED, EXECUTED = range(8)
TIMELOCK_UNSET, TIMELOCK_WAITING, TIMELOCK_READY, TIMELOCK_DONE = range(
    4
)  # TimelockController.OperationState


def state_bitmap(*states: int) -> bytes:
    """OpenZeppelin's ``_encodeStateBitmap``: the ``expectedStates`` argument of
    GovernorUnexpectedProposalState / TimelockUnexpectedOperationState."""
    return sum(1 << s for s in states).to_bytes(32, "big")


AGAINST, FOR, ABSTAIN = range(3)


@dataclass
class Proposal:
    """One governor proposal: the actions, its description, and its id once proposed."""

    targets: list[str]
    values: list[int]
    calldatas: list[bytes]
    description: str
    id: int = 0

    @property
    def description_hash(self) -> bytes:
        return keccak(text=self.description)

    @property
    def args(self) -> tuple:
        return (self.targets, self.values, self.calldatas, self.description_hash)


def action(contract, method: str, *args, value: int = 0) -> tuple[str, int, bytes]:
    """(target, value, calldata) for `contract.method(*args)` executed by the timelock."""
    return contract.address, value, bytes(getattr(contract, method).encode_input(*args))


def advance(chain, seconds: int) -> None:
    """Move the chain's clock forward by `seconds` and mine a block."""
    chain.pending_timestamp += seconds
    chain.mine()


def propose(governor, proposer, actions: list[tuple[str, int, bytes]], description: str):
    targets, values, calldatas = (list(x) for x in zip(*actions, strict=True))
    p = Proposal(targets, values, calldatas, description)
    tx = governor.propose(targets, values, calldatas, description, sender=proposer)
    p.id = tx.events.filter(governor.ProposalCreated)[0].proposalId
    return p, tx


def start_voting(governor, chain, p: Proposal) -> None:
    """Advance past the proposal's snapshot so that votes are accepted."""
    advance(chain, governor.proposalSnapshot(p.id) - chain.pending_timestamp + 1)


def end_voting(governor, chain, p: Proposal) -> None:
    advance(chain, governor.proposalDeadline(p.id) - chain.pending_timestamp + 1)


def pass_proposal(governor, chain, proposer, voters, actions, description, timelock_delay: int):
    """Full lifecycle (propose, vote FOR, queue, wait, execute); returns (proposal, receipts)."""
    p, tx_propose = propose(governor, proposer, actions, description)
    start_voting(governor, chain, p)
    votes = [governor.castVote(p.id, FOR, sender=v) for v in voters]
    end_voting(governor, chain, p)
    tx_queue = governor.queue(*p.args, sender=proposer)
    advance(chain, timelock_delay + 1)
    tx_execute = governor.execute(*p.args, sender=proposer)
    return p, {"propose": tx_propose, "vote": votes[0], "queue": tx_queue, "execute": tx_execute}
