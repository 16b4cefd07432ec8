"""ComputeToken: fixed supply, permit, timestamp-clocked votes."""

from eth_account import Account
from eth_account.messages import encode_typed_data

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
    data = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": "GPU Compute Token",
            "version": "1",
            "chainId": chain.chain_id,
            "verifyingContract": token.address,
        },
        "message": {
            "owner": owner.address,
            "spender": spender.address,
            "value": 500,
            "nonce": token.nonces(owner.address),
            "deadline": deadline,
        },
    }
    sig = Account.sign_message(encode_typed_data(full_message=data), owner.key)
    token.permit(
        owner.address,
        spender,
        500,
        deadline,
        sig.v,
        sig.r.to_bytes(32, "big"),
        sig.s.to_bytes(32, "big"),
        sender=spender,
    )
    assert token.allowance(owner.address, spender) == 500
