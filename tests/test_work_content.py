"""Content addressing: SHA-256 and CIDv1 computed by our code (checked against py-cid and a known
vector), the blob store, and fetching with a check on every fetch (http endpoints, ipfs:// through
a gateway); a wrong or missing blob is a clear error."""

from __future__ import annotations

import hashlib

import cid as py_cid
import multihash
import pytest

from oracle.work.blob_server import BlobServer, json_reply
from oracle.work.blobs import BlobRef, BlobStore, Fetcher
from oracle.work.content import cid_of, cid_of_digest, digest_of_cid, parse_digest, sha256
from oracle.work.errors import BlobError

HELLO_CID = (
    "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"  # `ipfs add --cid-version 1 --raw-leaves`
)


def test_cid_of_known_file_matches_ipfs():
    assert cid_of(b"hello world") == HELLO_CID


@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 40])
def test_cid_matches_py_cid(data):
    mh = multihash.Multihash(multihash.Func.sha2_256, hashlib.sha256(data).digest()).encode()
    assert cid_of(data) == py_cid.make_cid(1, "raw", mh).encode("base32").decode()


def test_cid_round_trips_to_the_digest():
    digest = sha256(b"model weights")
    assert digest_of_cid(cid_of_digest(digest)) == digest
    assert parse_digest(cid_of_digest(digest)) == parse_digest("0x" + digest.hex()) == digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "neither"),  # CIDv0 (base58, dag-pb)
        ("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "raw codec"),  # dag-pb CIDv1
        ("b!!!!", "base32"),
        ("0x1234", "neither"),
    ],
)
def test_foreign_or_broken_addresses_are_refused(text, message):
    with pytest.raises(BlobError, match=message):
        parse_digest(text)


def test_store_rehashes_on_every_read(tmp_path):
    store = BlobStore(tmp_path)
    digest = store.put(b"inputs")
    assert store.get(digest) == b"inputs" and store.put(b"inputs") == digest
    store.path_of(digest).write_bytes(b"inputz")
    with pytest.raises(BlobError, match="does not hash to its name"):
        store.get(digest)
    with pytest.raises(BlobError, match="not in the store"):
        store.get(sha256(b"absent"))


@pytest.fixture
def server(tmp_path):
    """A real blob server on loopback; its /ipfs/ route makes it a path gateway too."""
    store = BlobStore(tmp_path / "served")

    def gateway(path, query):
        try:
            return 200, "application/octet-stream", store.get(digest_of_cid(path.rsplit("/", 1)[-1]))
        except BlobError as exc:
            return json_reply(404, {"error": str(exc)})

    srv = BlobServer(store, routes={"/ipfs/": gateway})
    srv.start()
    yield srv
    srv.stop()


def test_fetch_over_http_checks_and_stores(server, tmp_path):
    digest = server.store.put(b"the inputs of a job")
    ref = BlobRef(digest, 19, (server.blob_url(digest),))
    fetcher = Fetcher(BlobStore(tmp_path / "local"))
    assert fetcher.fetch(ref) == b"the inputs of a job"
    assert fetcher.store.has(digest) and fetcher.fetched_bytes == 19


def test_fetch_through_an_ipfs_gateway(server, tmp_path):
    data = b"model bytes over ipfs"
    digest = server.store.put(data)
    ref = BlobRef.of(data, [f"ipfs://{cid_of(data)}"])
    assert Fetcher(BlobStore(tmp_path / "a"), gateway=server.url).fetch(ref) == data
    with pytest.raises(BlobError, match="no IPFS gateway configured"):
        Fetcher(BlobStore(tmp_path / "b")).fetch(ref)
    assert digest == ref.digest


def test_a_source_serving_wrong_bytes_is_skipped_and_named(tmp_path):
    good = b"honest bytes!"
    digest = sha256(good)
    forger = BlobServer(
        BlobStore(tmp_path / "forger"), routes={"/blobs/": lambda p, q: (200, "x", b"forged bytes!")}
    )
    honest = BlobServer(BlobStore(tmp_path / "honest"))
    honest.store.put(good)
    forger.start(), honest.start()
    try:
        bad_url, good_url = forger.blob_url(digest), honest.blob_url(digest)
        assert (
            Fetcher(BlobStore(tmp_path / "a")).fetch(BlobRef(digest, len(good), (bad_url,)), [good_url])
            == good
        )
        with pytest.raises(
            BlobError, match=f"{bad_url}: served bytes hashing to 0x{sha256(b'forged bytes!').hex()}"
        ):
            Fetcher(BlobStore(tmp_path / "b")).fetch(BlobRef(digest, len(good), (bad_url,)))
        assert not BlobStore(tmp_path / "b").has(digest)  # nothing wrong was kept
    finally:
        forger.stop(), honest.stop()


def test_wrong_size_missing_and_unreachable_sources_are_clear_errors(server, tmp_path):
    digest = server.store.put(b"abc")
    fetcher = Fetcher(BlobStore(tmp_path / "local"))
    with pytest.raises(BlobError, match="served 3 bytes, expected 4"):
        fetcher.fetch(BlobRef(digest, 4, (server.blob_url(digest),)))
    with pytest.raises(BlobError, match="HTTP 404"):
        fetcher.fetch(BlobRef(sha256(b"x"), 1, (server.blob_url(sha256(b"x")),)))
    with pytest.raises(BlobError, match="unreachable"):
        fetcher.fetch(BlobRef(digest, 3, ("http://127.0.0.1:9/blobs/" + digest.hex(),)))
    with pytest.raises(BlobError, match="has no URL"):
        fetcher.fetch(BlobRef(sha256(b"y"), 1))
    with pytest.raises(BlobError, match="above the fetch limit"):
        Fetcher(BlobStore(tmp_path / "small"), max_bytes=2).fetch(
            BlobRef(digest, 3, (server.blob_url(digest),))
        )
