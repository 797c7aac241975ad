"""`zdr verify`: check a deployment's store, files and logs against docs/DESIGN.md §6's promises."""

from zdr.verify.report import CheckResult, Report, Violation, render_text
from zdr.verify.run import VerifyError, VerifyOptions, open_engine, run_verify

__all__ = [
    "CheckResult",
    "Report",
    "VerifyError",
    "VerifyOptions",
    "Violation",
    "open_engine",
    "render_text",
    "run_verify",
]
