"""Offline verification of any signed file the deployment issues — no database, no master key.

    verify_file(data, trusted_pems) -> Verified       # raises InvalidDocument(one-line reason)

It checks the signature (`zdr.proof.envelope`), then what the type promises:
- a statement: its own arithmetic (the counts add up, the tree has as many leaves as exchanges);
- an inclusion proof: the embedded statement's signature, that the proof names that statement,
  and the record's leaf hash up the audit path to the statement's root (RFC 9162);
- an erasure receipt or an audit checkpoint: its fields are present and well-formed.
`describe(payload)` renders what a document states, in a few lines of text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from zdr.proof import merkle
from zdr.proof.canonical import NotCanonical, canonical
from zdr.proof.envelope import InvalidDocument, Opened, open_document

STATEMENT = "zdr.statement/v1"
PROOF = "zdr.inclusion-proof/v1"
RECEIPT = "zdr.erasure-receipt/v1"
CHECKPOINT = "zdr.audit-checkpoint/v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Verified:
    kind: str
    payload: dict[str, Any]
    key_id: str
    pinned: bool
    digest: str
    statement: dict[str, Any] | None = None      # a proof's statement
    notes: list[str] = field(default_factory=list)


def _need(condition: bool, reason: str) -> None:
    if not condition:
        raise InvalidDocument(reason)


def verify_file(data: bytes, trusted_pems: list[str] | None = None) -> Verified:
    opened = open_document(data, trusted_pems)
    kind = opened.payload.get("type")
    if kind == STATEMENT:
        _check_statement(opened.payload)
        return _verified(opened, STATEMENT)
    if kind == PROOF:
        statement = _check_proof(opened.payload, trusted_pems)
        return _verified(opened, PROOF, statement)
    if kind == RECEIPT:
        _check_receipt(opened.payload)
        return _verified(opened, RECEIPT)
    if kind == CHECKPOINT:
        _need(isinstance(opened.payload.get("entry"), int)
              and bool(_HEX64.fullmatch(str(opened.payload.get("head")))),
              "the checkpoint's entry or head is malformed")
        return _verified(opened, CHECKPOINT)
    raise InvalidDocument(f"unknown document type {str(kind)[:40]!r}")


def _verified(opened: Opened, kind: str, statement: dict[str, Any] | None = None) -> Verified:
    notes = [] if opened.pinned else [
        f"signed by key {opened.key_id} (the key in the file): pin it with --public-key to "
        "check who signed"]
    return Verified(kind, opened.payload, opened.key_id, opened.pinned, opened.digest,
                    statement, notes)


def _check_statement(payload: dict[str, Any]) -> None:
    try:
        tree, exchanges = payload["metadata_tree"], payload["exchanges"]
        total = sum(int(row["count"]) for row in exchanges["by_surface_zdr_retention"])
        _need(total == exchanges["total"] == tree["leaves"],
              "the exchange counts and the tree's leaves disagree")
        _need(bool(_HEX64.fullmatch(str(tree["root"]))), "the tree root is malformed")
        for record_class, counts in payload["records"].items():
            if record_class == "window":
                continue
            _need(counts["written"] == counts["held"] + counts["purged"] + counts["erased"],
                  f"the {record_class} counts do not add up")
        _need(isinstance(payload["log"]["seq"], int), "the log position is malformed")
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidDocument(f"the statement lacks a field or has a wrong type ({error})") \
            from None


def _check_proof(payload: dict[str, Any], trusted_pems: list[str] | None) -> dict[str, Any]:
    try:
        inner = open_document(str(payload["statement"]).encode("utf-8"), trusted_pems)
    except InvalidDocument as error:
        raise InvalidDocument(f"the proof's statement does not verify: {error}") from None
    statement = inner.payload
    _need(statement.get("type") == STATEMENT, "the proof does not embed a statement")
    _check_statement(statement)
    try:
        _need(payload["statement_hash"] == inner.digest,
              "the proof names another statement than the one it carries")
        record = payload["record"]
        _need(isinstance(record, dict) and record.get("id") == payload["exchange_id"],
              "the record is not the exchange the proof names")
        _need(record.get("org_id") == statement["org"]["id"],
              "the record belongs to another organization than the statement")
        size, index = payload["tree_size"], payload["leaf_index"]
        _need(size == statement["metadata_tree"]["leaves"],
              "the proof's tree size is not the statement's")
        path = [bytes.fromhex(h) for h in payload["audit_path"]]
        _need(all(len(h) == 32 for h in path), "the audit path is malformed")
        root = bytes.fromhex(statement["metadata_tree"]["root"])
        leaf = merkle.leaf_hash(canonical(record))
    except (KeyError, TypeError, ValueError, NotCanonical) as error:
        raise InvalidDocument(f"the proof lacks a field or has a wrong type ({error})") from None
    _need(merkle.verify_inclusion(leaf, index, size, path, root),
          "the record is not in the statement's tree (record, index or path altered)")
    return statement


def _check_receipt(payload: dict[str, Any]) -> None:
    try:
        _need(payload["scope"]["kind"] in {"organization", "end_user"},
              "the receipt's scope is malformed")
        for record_class, count in payload["deleted"].items():
            _need(isinstance(count, int) and count >= 0,
                  f"the deleted count of {record_class} is malformed")
        _need(isinstance(payload["kept"], list), "the receipt's kept list is malformed")
        _need(isinstance(payload["log"]["seq"], int), "the log position is malformed")
    except (KeyError, TypeError) as error:
        raise InvalidDocument(f"the receipt lacks a field or has a wrong type ({error})") \
            from None


def describe(result: Verified) -> list[str]:
    """What the document states, for people."""
    p = result.payload
    lines = [f"valid {result.kind}, signed by key {result.key_id}"
             + (" (pinned)" if result.pinned else " (embedded key)")]
    if result.kind == PROOF and result.statement is not None:
        s = result.statement
        lines.append(f"exchange {p['exchange_id']} is record {p['leaf_index'] + 1} of "
                     f"{p['tree_size']} in the statement for {s['org']['name']} "
                     f"({s['period']['since']} .. {s['period']['until']})")
        record = p["record"]
        lines.append(f"record: surface {record.get('surface')}, zdr {record.get('zdr_state')}, "
                     f"retention {record.get('retention')}, status {record.get('status_code')}")
        return lines
    if result.kind == STATEMENT:
        lines += [
            f"org {p['org']['name']} ({p['org']['id']}), plan {p['org']['plan']}; period "
            f"{p['period']['since']} .. {p['period']['until']}; issued {p['issued_at']}",
            f"zdr {p['arrangements']['zdr']['status']} (effective "
            f"{p['arrangements']['zdr']['effective_at']}); hipaa "
            f"{p['arrangements']['hipaa']['enabled']}",
            f"exchanges: {p['exchanges']['total']}; metadata tree root "
            f"{p['metadata_tree']['root']}",
        ]
        for row in p["exchanges"]["by_surface_zdr_retention"]:
            lines.append(f"  {row['surface']:<24} zdr {row['zdr']:<8} retention "
                         f"{row['retention']:<14} {row['count']}")
        for record_class, c in p["records"].items():
            if record_class != "window":
                lines.append(f"  {record_class:<18} written {c['written']}, purged {c['purged']}"
                             f", erased {c['erased']}, held {c['held']} (under hold "
                             f"{c['under_hold']})")
        verify = p.get("verify") or {}
        lines.append(f"checks at issue: {'ok' if verify.get('ok') else 'NOT ok'}; audit head "
                     f"{p['audit']['head']['entry']}:{p['audit']['head']['link']}; log "
                     f"#{p['log']['seq']}")
    elif result.kind == RECEIPT:
        lines.append(f"erasure of {p['scope']['kind']} in org {p['org']['name']} "
                     f"({p['org']['id']}) at {p['erased_at']}")
        lines.append("deleted: " + ", ".join(f"{k} {v}" for k, v in p["deleted"].items()))
        for kept in p["kept"]:
            lines.append(f"kept: {kept['record_class']} {kept['count']} ({kept['why']})")
        if p.get("keys_destroyed"):
            lines.append("keys destroyed: " + ", ".join(p["keys_destroyed"]))
    elif result.kind == CHECKPOINT:
        lines.append(f"audit chain head at entry {p['entry']}: {p['head']} ({p['at']})")
    return lines

