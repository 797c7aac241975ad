"""Inclusion proofs: one exchange's metadata record is leaf i of a signed statement's tree.

    build(conn, statement_document, statement_payload, exchange_id) -> payload

The proof carries the record itself (content-free metadata), its leaf index, the audit path
(RFC 9162) and the whole signed statement, so it checks offline with nothing but the public key:
the statement's signature, the record's leaf hash (SHA-256 of 0x00 || its RFC 8785 JSON), the
path up to the statement's root.

Building it streams the period's records a second time (`merkle.PathBuilder`: one subtree at a
time, O(log n) memory) and checks the result against the statement's root: if a record of the
period changed since the statement was issued (purged, erased, or its final metadata arrived
late), no proof is given and a new statement is needed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from zdr.errors import Conflict, NotFound
from zdr.proof import merkle, records
from zdr.proof.records import Period

PROOF_TYPE = "zdr.inclusion-proof/v1"


def build(conn: Connection, statement_document: bytes, statement: dict[str, Any],
          statement_digest: str, exchange_id: str) -> dict[str, Any]:
    org_id = statement["org"]["id"]
    period = Period.from_json(statement["period"])
    tree = statement["metadata_tree"]
    size, root = int(tree["leaves"]), bytes.fromhex(tree["root"])
    found = records.find_record(conn, org_id, period, exchange_id)
    if found is None:
        raise NotFound("no exchange with that request id in this statement's organization "
                       "and period")
    index, row = found
    encode = records.LeafEncoder().leaf_data
    if index >= size:
        raise Conflict("the period's records changed since the statement was issued; issue a "
                       "new statement")
    builder = merkle.PathBuilder(index, size)
    seen = 0
    for other in records.stream_rows(conn, org_id, period):
        seen += 1
        if seen > size:
            break
        builder.add(merkle.leaf_hash(encode(other)))
    leaf = merkle.leaf_hash(encode(row))
    if seen != size or builder.leaf != leaf or not merkle.verify_inclusion(
            leaf, index, size, builder.path(), root):
        raise Conflict("the period's records changed since the statement was issued (purged, "
                       "erased or updated); issue a new statement and prove against it")
    return {
        "type": PROOF_TYPE,
        "exchange_id": exchange_id,
        "record": records.normalize(row),
        "leaf_index": index,
        "tree_size": size,
        "audit_path": [h.hex() for h in builder.path()],
        "statement_hash": statement_digest,
        "statement": statement_document.decode("utf-8"),
    }
