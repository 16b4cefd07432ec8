"""ComputeToken: fixed supply, permit, timestamp-clocked votes."""

from eth_account import Account

from scripts._signing import token_permit
from tests.conftest import TOKEN_SUPPLY


def test_supply_minted_once_to_holder(token, deployer):
    assert token.totalSupply() == TOKEN_SUPPLY
    assert token.balanceOf(deployer) == TOKEN_SUPPLY


def test_votes_need_delegation_and_use_timestamps(token, deployer, accounts, chain):
    holder = accounts[5]
    token.transfer(holder, 1000, sender=deployer)
    assert token.getVotes(holder) == 0
    # `delegate` is shadowed by an attribute of Ape's ContractInstance: call it by name.
    tx = token.invoke_transaction("delegate", holder, sender=holder)
    assert token.getVotes(holder) == 1000
    assert token.CLOCK_MODE() == "mode=timestamp"
    assert token.getPastVotes(holder, chain.blocks[tx.block_number].timestamp - 1) == 0


def test_permit_sets_allowance_from_a_signature(token, deployer, accounts, chain):
    owner = Account.create()
    spender = accounts[6]
    token.transfer(owner.address, 500, sender=deployer)
    deadline = chain.pending_timestamp + 3600
    assert token.name() == "GPU Compute Token"  # the EIP-712 domain name the permit is signed for
    sig = token_permit(token, chain.chain_id, owner.address, owner.key, spender, 500, deadline)
    token.permit(owner.address, spender, 500, deadline, sig.v, sig.r, sig.s, sender=spender)
    assert token.allowance(owner.address, spender) == 500
