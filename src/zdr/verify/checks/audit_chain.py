"""The audit log is an intact keyed hash chain that matches every signed checkpoint, checked by
the control plane's own verifier."""

from __future__ import annotations

from zdr.control.checkpoints import trusted_keys, verify_with_checkpoints
from zdr.verify.checks.context import StoreContext
from zdr.verify.report import CheckResult


def check_audit_chain(ctx: StoreContext) -> CheckResult:
    result = CheckResult("audit_chain", "Audit log keyed chain intact, checkpoints match")
    with ctx.connect() as conn:
        trusted = trusted_keys(conn, ctx.signing_pems)
        chain = verify_with_checkpoints(conn, ctx.chain_key, trusted, ctx.audit_head)
    result.examined = chain.entries
    result.notes.append(f"head {chain.entries}:{chain.head}")
    if chain.anchors:
        result.notes.append(f"{chain.anchors} signed checkpoints compared")
    if chain.ok and (not chain.keyed or not chain.key_checked):
        result.notes.append(chain.message)
    if not chain.ok:
        where = "audit_log" if chain.seq is None else f"audit_log#{chain.seq}"
        result.add(where, f"{chain.problem}: {chain.message}")
    return result
