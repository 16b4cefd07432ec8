"""The job manifest: canonical JSON, specHash = sha256 of it, schema errors that name the field,
the size limit, deadline feasibility, and the match between a manifest and its model."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from oracle.energy import EnergyPolicy
from oracle.work.content import sha256
from oracle.work.errors import ManifestError
from oracle.work.job import check_model
from oracle.work.manifest import MAX_MANIFEST_BYTES, canonical_json, manifest_from_json, parse_manifest
from tests.support.work import DEADLINE, demo_manifest, demo_onnx


@pytest.fixture(scope="module")
def manifest():
    return demo_manifest(360, model_urls=["ipfs://x"], input_urls=["http://127.0.0.1:1/blobs/0"])[0]


def test_manifest_is_canonical_json_and_spec_hash_is_its_sha256(manifest):
    data = manifest.to_bytes()
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    assert manifest.spec_hash == sha256(data)
    assert parse_manifest(data) == manifest
    obj = json.loads(data)
    assert obj["model"]["sha256"] == "0x" + demo_onnx().digest.hex()
    assert manifest.model_id == demo_onnx().model_id
    assert obj["outputs"][0] == {
        "dtype": "int64",
        "equality": {"rule": "exact"},
        "item_shape": [],
        "name": "label",
    }
    assert obj["outputs"][1]["equality"] == {"atol": "1e-4", "rtol": "1e-4", "rule": "close"}
    assert obj["inputs"]["count"] == 360 and obj["inputs"]["blob"]["size"] == 360 * 256 * 4


def test_non_canonical_bytes_are_refused(manifest):
    pretty = json.dumps(manifest.to_json(), indent=1, sort_keys=True).encode()
    with pytest.raises(ManifestError, match="not in canonical form"):
        parse_manifest(pretty)
    with pytest.raises(ManifestError, match="not UTF-8 JSON"):
        parse_manifest(b"\xff{")


def test_manifest_over_the_size_limit_is_refused(manifest):
    big = manifest.to_json()
    big["model"]["urls"] = ["http://example.invalid/" + "a" * 3000] * 6
    with pytest.raises(ManifestError, match=f"above the limit of {MAX_MANIFEST_BYTES}"):
        parse_manifest(canonical_json(big))


def _broken(manifest, path, value):
    obj = copy.deepcopy(manifest.to_json())
    *head, last = path
    target = obj
    for key in head:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return obj


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("version",), 2, "manifest.version must be 1"),
        (("kind",), "llm-chat", "manifest.kind must be 'onnx-batch'"),
        (("deadline",), KeyError, "manifest is missing deadline"),
        (("extra",), 1, "unknown field"),
        (("model", "sha256"), "0x12", "manifest.model.sha256"),
        (
            ("model", "cid"),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
            "names another file",
        ),
        (("runtime", "format"), "torchscript", "runtime.format must be 'onnx'"),
        (("runtime", "opset"), 99, r"runtime.opset must be an integer in \[1, 21\]"),
        (("inputs", "dtype"), "uint8", "inputs.dtype must be one of"),
        (("inputs", "count"), 0, r"inputs.count must be an integer in \[1,"),
        (("inputs", "count"), 361, "blob.size is 368640 bytes; 361 items"),
        (("inputs", "item_shape"), [255], "blob.size"),
        (("inputs", "root"), "zz", "inputs.root"),
        (("outputs",), [], "outputs must be a list of 1 to 16"),
        (("outputs", 0, "equality"), {"rule": "close", "atol": "1e-4", "rtol": "0"}, "compared exactly"),
        (
            ("outputs", 1, "equality"),
            {"rule": "close", "atol": "0.5", "rtol": "0"},
            r"atol must be in \[0, 0.01\]",
        ),
        (("outputs", 1, "equality"), {"rule": "close", "atol": 1e-4, "rtol": "0"}, "is a float"),
        (("outputs", 1, "name"), "label", "names repeat"),
        (("cost", "flops_per_item"), -5, "flops_per_item must be an integer"),
    ],
)
def test_schema_errors_name_the_field(manifest, path, value, message):
    obj = _broken(manifest, path, value)
    with pytest.raises(ManifestError, match=message):
        parse_manifest(canonical_json(obj))


def test_deadline_that_no_provider_can_meet_is_refused(manifest):
    manifest.check_deadline(now=DEADLINE - 3600)
    with pytest.raises(ManifestError, match="cannot finish by its deadline: 360 items need at least 60 s"):
        manifest.check_deadline(now=DEADLINE - 30)
    with pytest.raises(ManifestError, match="need at least 12344 s at 1e-09 TFLOP/s"):
        manifest.check_deadline(now=DEADLINE - 3600, flops_per_s=1e3)


def test_a_model_that_is_not_the_manifests_is_refused(manifest):
    check_model(manifest, demo_onnx())
    obj = manifest.to_json()
    obj["model"]["sha256"] = "0x" + "11" * 32
    del obj["model"]["cid"]
    with pytest.raises(ManifestError, match="the model file hashes to 0x"):
        check_model(manifest_from_json(obj), demo_onnx())
    obj = manifest.to_json()
    obj["cost"]["flops_per_item"] = 1
    with pytest.raises(ManifestError, match="declares 1 FLOP per item"):
        check_model(manifest_from_json(obj), demo_onnx())
    obj = manifest.to_json()
    obj["outputs"][1]["item_shape"] = [11]
    with pytest.raises(ManifestError, match="output logits float32 \\[11\\] is not the model's"):
        check_model(manifest_from_json(obj), demo_onnx())


def test_energy_terms_are_optional_parsed_and_written_in_one_form(manifest):
    assert "energy" not in manifest.to_json() and manifest.energy is None  # no terms: bytes as before
    terms = EnergyPolicy(max_mj_per_item=1500, min_gflops_per_watt=200)
    with_terms = dataclasses.replace(manifest, energy=terms)
    data = with_terms.to_bytes()
    assert json.loads(data)["energy"] == {"max_mj_per_item": 1500, "min_gflops_per_watt": 200}
    assert parse_manifest(data) == with_terms and with_terms.spec_hash != manifest.spec_hash
    prefer = dataclasses.replace(manifest, energy=EnergyPolicy(prefer_efficient=True))
    assert parse_manifest(prefer.to_bytes()).energy == EnergyPolicy(prefer_efficient=True)


@pytest.mark.parametrize(
    ("energy", "message"),
    [
        ({"max_mj_per_item": 1.5}, "is a float"),
        ({"max_mj_per_item": 0}, "max_mj_per_item must be an integer from 1"),
        ({"min_gflops_per_watt": "200"}, "min_gflops_per_watt must be an integer"),
        ({"joules": 3}, "unknown keys"),
        ({"max_mj_per_item": 5, "prefer_efficient": False}, "prefer_efficient only when true"),
        ({}, "leave energy out"),
        (None, "leave energy out"),
        ([], "must be an object"),
    ],
)
def test_bad_energy_terms_are_refused_naming_the_field(manifest, energy, message):
    obj = {**manifest.to_json(), "energy": energy}
    with pytest.raises(ManifestError, match=message):
        parse_manifest(canonical_json(obj) if not _has_float(energy) else json.dumps(obj).encode())


def _has_float(value) -> bool:
    return isinstance(value, dict) and any(isinstance(v, float) for v in value.values())


def test_items_per_leaf_is_optional_and_written_only_when_not_one(manifest):
    assert manifest.leaf_items == 64 and json.loads(manifest.to_bytes())["tree"] == {"leaf_items": 64}
    one = dataclasses.replace(manifest, leaf_items=1)
    assert "tree" not in one.to_json() and parse_manifest(one.to_bytes()).leaf_items == 1
    assert one.spec_hash != manifest.spec_hash  # the trees differ, so the job does


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"leaf_items": 1}, r"leave tree out for 1\) must be an integer in \[2, 65536\]"),
        ({"leaf_items": 65537}, r"must be an integer in \[2, 65536\]"),
        ({"leaf_items": "64"}, "manifest.tree.leaf_items"),
        ({}, "manifest.tree is missing leaf_items"),
        ({"leaf_items": 64, "arity": 2}, "unknown field"),
    ],
)
def test_bad_items_per_leaf_are_refused_naming_the_field(manifest, tree, message):
    with pytest.raises(ManifestError, match=message):
        parse_manifest(canonical_json({**manifest.to_json(), "tree": tree}))
