"""The store checks of `zdr verify`, in the order they are reported. Each takes a `StoreContext`
and returns a `CheckResult`; they only read (SQLAlchemy Core: SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Callable

from zdr.verify.checks.audit_chain import check_audit_chain
from zdr.verify.checks.consistency import check_consistency
from zdr.verify.checks.context import StoreContext
from zdr.verify.checks.erasure import check_erasure
from zdr.verify.checks.expiry import check_expiry
from zdr.verify.checks.secrets_at_rest import check_secrets_at_rest
from zdr.verify.checks.zdr_content import check_zdr_content
from zdr.verify.report import CheckResult

StoreCheck = Callable[[StoreContext], CheckResult]

STORE_CHECKS: tuple[StoreCheck, ...] = (
    check_zdr_content,
    check_expiry,
    check_erasure,
    check_audit_chain,
    check_consistency,
    check_secrets_at_rest,
)

__all__ = ["STORE_CHECKS", "StoreCheck", "StoreContext"]
