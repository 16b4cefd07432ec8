"""Content addresses: SHA-256 digests and IPFS-compatible CIDs, computed here from the bytes.

Every file of a job (the model, the inputs, the outputs, the manifest itself) is named by the
SHA-256 of its bytes. The same digest is also written as a CIDv1 so that an IPFS gateway can serve
it: ``cid = multibase-base32( varint(1) || varint(0x55 raw) || 0x12 0x20 || sha256(bytes) )``, i.e.
version 1, the ``raw`` codec and a ``sha2-256`` multihash, in lower-case base32 without padding
behind the multibase prefix ``b``. It is what ``ipfs add --cid-version 1 --raw-leaves`` prints for a
file that fits one block (256 KiB by default; ``--chunker size-1048576`` for up to 1 MiB). A larger
file added with default settings gets a dag-pb CID instead; our addresses stay the raw CID and the
fetcher checks the SHA-256 of the whole body whatever the gateway did, so nothing is trusted
because of where it came from (see :mod:`oracle.work.blobs`).
"""

from __future__ import annotations

import base64
import hashlib
import re

from oracle.work.errors import BlobError

CID_VERSION = 1
RAW_CODEC = 0x55
SHA2_256 = 0x12
DIGEST_BYTES = 32
_CID_PREFIX = bytes([CID_VERSION, RAW_CODEC, SHA2_256, DIGEST_BYTES])  # each value < 0x80: one varint byte
_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def sha256(data: bytes) -> bytes:
    """The 32-byte SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def hex32(digest: bytes) -> str:
    """``0x`` + 64 lower-case hex digits (how digests are written in manifests and on chain)."""
    if len(digest) != DIGEST_BYTES:
        raise BlobError(f"a digest is {DIGEST_BYTES} bytes, got {len(digest)}")
    return "0x" + digest.hex()


def parse_digest(text: str, what: str = "digest") -> bytes:
    """``0x``-hex (or bare hex) of 32 bytes, or a raw sha2-256 CIDv1 -> the 32-byte digest."""
    if not isinstance(text, str):
        raise BlobError(f"{what} must be a string (0x + 64 hex digits or a CIDv1), got {type(text).__name__}")
    if _HEX64.match(text):
        return bytes.fromhex(text[2:] if text.startswith("0x") else text)
    if text.startswith("b"):
        return digest_of_cid(text)
    raise BlobError(f"{what} {text[:80]!r} is neither 0x + 64 hex digits nor a CIDv1 (b...)")


def cid_of_digest(digest: bytes) -> str:
    """The CIDv1 (raw, sha2-256, base32) naming the file whose SHA-256 is ``digest``."""
    if len(digest) != DIGEST_BYTES:
        raise BlobError(f"a sha2-256 digest is {DIGEST_BYTES} bytes, got {len(digest)}")
    return "b" + base64.b32encode(_CID_PREFIX + digest).decode("ascii").lower().rstrip("=")


def cid_of(data: bytes) -> str:
    """The CIDv1 of ``data`` (see the module doc)."""
    return cid_of_digest(sha256(data))


def digest_of_cid(cid: str) -> bytes:
    """The SHA-256 digest inside a raw sha2-256 CIDv1; :class:`BlobError` for any other CID."""
    if not isinstance(cid, str) or not cid.startswith("b") or len(cid) < 2:
        raise BlobError(f"CID {str(cid)[:80]!r} is not a base32 CIDv1 (it must start with 'b')")
    body = cid[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        raise BlobError(f"CID {cid[:80]!r} is not valid base32") from None
    if raw[:4] != _CID_PREFIX or len(raw) != 4 + DIGEST_BYTES:
        raise BlobError(
            f"CID {cid[:80]!r} is not a CIDv1 with the raw codec and a sha2-256 multihash "
            "(add files with `ipfs add --cid-version 1 --raw-leaves`)"
        )
    return raw[4:]
