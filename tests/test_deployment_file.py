"""add_local_fields: a local field added to an existing deployment file, the rest kept, atomically;
unknown fields and files that are not deployment files refused with what to do."""

import json

import pytest

from oracle.deployment import load_deployment
from scripts.deployment_file import LOCAL_FIELDS, add_local_fields

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _write(path, **extra):
    doc = {
        "chainId": 31337,
        "contracts": {"ComputeToken": {"address": ADDRESS, "abi": []}},
        "deployBlock": 1,
        "epochs": {"genesis": 1_800_000_000, "epochSeconds": 300, "validitySeconds": 3600},
        "rpcUrl": "http://127.0.0.1:8545",
        **extra,
    }
    path.write_text(json.dumps(doc))
    return doc


def test_a_local_field_is_added_and_everything_else_kept(tmp_path):
    path = tmp_path / "deployment.json"
    before = _write(path)
    urls = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    doc = add_local_fields(path, validatorEndpoints=urls)
    assert doc == json.loads(path.read_text()) == {**before, "validatorEndpoints": urls}
    assert "validatorEndpoints" in LOCAL_FIELDS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deployment.json"]  # no temporary file left
    # given again, the field is replaced, not appended to
    add_local_fields(path, validatorEndpoints=urls[:1], chainName="Local devnet (anvil)")
    again = json.loads(path.read_text())
    assert again["validatorEndpoints"] == urls[:1] and again["chainName"] == "Local devnet (anvil)"
    # the oracle still reads the file (it ignores local fields)
    assert load_deployment(path).get("ComputeToken").address == ADDRESS


def test_unknown_fields_and_non_deployment_files_are_refused_and_left_alone(tmp_path):
    path = tmp_path / "deployment.json"
    _write(path)
    text = path.read_text()
    with pytest.raises(ValueError, match=r"not deployment-file fields: \['validatorEndpoint'\]"):
        add_local_fields(path, validatorEndpoint=["http://127.0.0.1:9001"])
    assert path.read_text() == text
    with pytest.raises(ValueError, match="no deployment file at .* deploy first"):
        add_local_fields(tmp_path / "missing.json", validatorEndpoints=[])
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(ValueError, match="is not a deployment file .* deploy again"):
        add_local_fields(garbage, validatorEndpoints=[])
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="no contracts"):
        add_local_fields(other, validatorEndpoints=[])
    assert garbage.read_text() == "{not json" and other.read_text() == '{"hello": 1}'
