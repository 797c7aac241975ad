"""The audit log is an intact hash chain, checked by the control plane's own verifier."""

from __future__ import annotations

from zdr.control.audit import verify_chain
from zdr.verify.checks.context import StoreContext
from zdr.verify.report import CheckResult


def check_audit_chain(ctx: StoreContext) -> CheckResult:
    result = CheckResult("audit_chain", "Audit log hash chain intact")
    with ctx.connect() as conn:
        chain = verify_chain(conn, ctx.audit_head)
    result.examined = chain.entries
    result.notes.append(f"head {chain.head}")
    if not chain.ok:
        where = "audit_log" if chain.seq is None else f"audit_log#{chain.seq}"
        result.add(where, f"{chain.problem}: {chain.message}")
    return result
