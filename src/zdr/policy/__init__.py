"""The pure policy: facts + arrangements + catalog + now -> Decision.

Imports only the standard library and `zdr.catalog`; no I/O, no clock, no logging.
"""

from zdr.policy.decide import decide
from zdr.policy.decision import Decision, Keep, PolicyError, RuleHit
from zdr.policy.extract import extract_facts
from zdr.policy.facts import Arrangements, OrgState, RequestFacts, WorkspaceState

__all__ = [
    "Arrangements",
    "Decision",
    "Keep",
    "OrgState",
    "PolicyError",
    "RequestFacts",
    "RuleHit",
    "WorkspaceState",
    "decide",
    "extract_facts",
]
