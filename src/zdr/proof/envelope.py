"""One signed document in one file: its payload, a detached Ed25519 signature, the public key.

    {"format":"zdr-signed/v1","payload":{…},"public_key":"-----BEGIN PUBLIC KEY-----…",
     "signature":{"alg":"Ed25519","key_id":"…","value":"<base64>"}}

The signature covers the payload's RFC 8785 bytes. The whole file is itself written in RFC 8785
form (plus one newline), and `open_document` refuses a file that is not: so one changed byte
anywhere — in the payload, the signature, the key, even the spacing — fails verification.

The embedded public key only says which key signed; who that key belongs to is what the reader
checks by pinning it (`--public-key`, or the list at `/.well-known/zdr/attestation-key`).
Verifying needs no database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from zdr.proof.canonical import NotCanonical, canonical
from zdr.proof.signing import (
    ALGORITHM,
    Signer,
    key_id_of,
    load_public_key,
    public_key_pem,
    verify,
)

FORMAT = "zdr-signed/v1"
_FIELDS = {"format", "payload", "public_key", "signature"}


class InvalidDocument(ValueError):
    """The file does not verify; the message is the one-line reason."""


@dataclass(frozen=True, slots=True)
class Opened:
    payload: dict[str, Any]
    key_id: str
    public_pem: str
    pinned: bool            # True: signed by one of the keys the reader trusts
    digest: str             # sha256 of the payload's canonical bytes: the document's hash


def digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(payload)).hexdigest()


def _file_bytes(payload_bytes: bytes, document: dict[str, Any]) -> bytes:
    """The canonical file: RFC 8785 of the whole document (keys in order: format, payload,
    public_key, signature), with the payload's canonical bytes computed once."""
    return (b'{"format":' + canonical(document["format"]) + b',"payload":' + payload_bytes
            + b',"public_key":' + canonical(document["public_key"]) + b',"signature":'
            + canonical(document["signature"]) + b"}\n")


def seal(payload: dict[str, Any], signer: Signer) -> bytes:
    """The file's bytes: payload signed by `signer`, all in RFC 8785 form."""
    signature = signer.sign(canonical(payload))
    document = {
        "format": FORMAT,
        "payload": payload,
        "public_key": signer.public_pem,
        "signature": {"alg": ALGORITHM, "key_id": signer.key_id,
                      "value": base64.b64encode(signature).decode()},
    }
    return canonical(document) + b"\n"


def open_document(data: bytes, trusted_pems: list[str] | None = None) -> Opened:
    """Check a signed file; its payload if it verifies, else `InvalidDocument(reason)`.

    `trusted_pems`: the public keys the reader trusts; the signer must be one of them. None:
    the embedded key is used (integrity only: `Opened.pinned` is False)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidDocument("the file is not valid JSON") from None
    if not isinstance(document, dict) or set(document) != _FIELDS:
        raise InvalidDocument("the file is not a signed zdr document (unexpected fields)")
    if document["format"] != FORMAT:
        raise InvalidDocument(f"unknown document format (expected {FORMAT})")
    payload, sig = document["payload"], document["signature"]
    try:
        message = canonical(payload)
        if data != _file_bytes(message, document):
            raise InvalidDocument("the file was altered: it is not in its canonical form")
    except NotCanonical:
        raise InvalidDocument("the file holds a number outside canonical JSON") from None
    if not isinstance(payload, dict) or not isinstance(sig, dict) \
            or set(sig) != {"alg", "key_id", "value"}:
        raise InvalidDocument("the payload or signature block is malformed")
    if sig["alg"] != ALGORITHM:
        raise InvalidDocument(f"unsupported signature algorithm (expected {ALGORITHM})")
    try:
        embedded = load_public_key(str(document["public_key"]))
        signature = base64.b64decode(str(sig["value"]), validate=True)
    except (ValueError, binascii.Error):
        raise InvalidDocument("the embedded public key or signature is malformed") from None
    if public_key_pem(embedded) != document["public_key"]:
        raise InvalidDocument("the embedded public key was altered")
    if key_id_of(embedded) != sig["key_id"]:
        raise InvalidDocument("the signature's key id does not match the embedded public key")
    key, pinned = embedded, False
    if trusted_pems is not None:
        trusted = {key_id_of(k): k for k in map(load_public_key, trusted_pems)}
        if sig["key_id"] not in trusted:
            raise InvalidDocument(f"signed by key {sig['key_id']}, which is not a trusted key")
        key, pinned = trusted[sig["key_id"]], True
    if not verify(key, signature, message):
        raise InvalidDocument("the signature does not match the payload: altered or forged")
    return Opened(payload, str(sig["key_id"]), str(document["public_key"]), pinned,
                  hashlib.sha256(message).hexdigest())
