"""Who may do what: actors, roles and one pure `authorize` over plain data.

Every verdict carries its reason, so refusals can be explained and audited. The table
`PERMISSIONS` is the whole policy: an action is allowed when one of the actor's provider roles is
listed for it, or when the actor holds one of the listed org roles *in the organization the action
touches*. Org roles never reach another organization.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

PROVIDER_ROLES = ("provider_admin", "reviewer", "legal", "trust_safety")
ORG_ROLES = ("org_owner", "org_admin", "org_member")
ALL_ROLES = PROVIDER_ROLES + ORG_ROLES
SYSTEM_ACTOR_ID = "system"

_PROVIDER_READERS = frozenset(PROVIDER_ROLES)
_ORG_ALL = frozenset(ORG_ROLES)
_ORG_ADMINS = frozenset({"org_owner", "org_admin"})
_ADMIN = frozenset({"provider_admin"})
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Rule:
    provider: frozenset[str]
    org: frozenset[str]
    summary: str


PERMISSIONS: Mapping[str, Rule] = {
    # organizations and workspaces
    "org.create": Rule(_ADMIN, _NONE, "create an organization"),
    "org.read": Rule(_PROVIDER_READERS, _ORG_ALL, "see an organization and what is in force"),
    "org.delete": Rule(_ADMIN, frozenset({"org_owner"}), "delete an organization (7-day restore)"),
    "org.restore": Rule(_ADMIN, frozenset({"org_owner"}), "restore a deleted organization"),
    "workspace.create": Rule(_ADMIN, _ORG_ADMINS, "create a workspace"),
    "workspace.read": Rule(_PROVIDER_READERS, _ORG_ALL, "list workspaces"),
    "workspace.set_retention": Rule(_ADMIN, _ORG_ADMINS, "set a workspace retention override"),
    # API keys
    "key.create": Rule(_ADMIN, _ORG_ADMINS, "create an API key"),
    "key.read": Rule(_ADMIN, _ORG_ALL, "list API keys (prefixes only)"),
    "key.revoke": Rule(_ADMIN, _ORG_ADMINS, "revoke an API key"),
    # arrangements
    "zdr.request": Rule(_ADMIN, _ORG_ADMINS, "request zero data retention"),
    "zdr.approve": Rule(frozenset({"provider_admin", "reviewer"}), _NONE, "approve a ZDR request"),
    "zdr.deny": Rule(frozenset({"provider_admin", "reviewer"}), _NONE, "deny a ZDR request"),
    "zdr.revoke": Rule(frozenset({"provider_admin", "reviewer"}), _NONE, "revoke ZDR"),
    "hipaa.accept_baa": Rule(_ADMIN, _ORG_ADMINS, "accept a BAA version (HIPAA, permanent)"),
    "retention.set": Rule(_ADMIN, _ORG_ADMINS, "set the enterprise custom retention period"),
    # holds and flagged content
    "hold.place": Rule(frozenset({"legal", "trust_safety"}), _NONE, "place a hold"),
    "hold.release": Rule(frozenset({"legal", "trust_safety"}), _NONE, "release a hold"),
    "hold.read": Rule(frozenset({"provider_admin", "legal", "trust_safety"}), _NONE, "list holds"),
    "flagged.read": Rule(frozenset({"trust_safety"}), _NONE, "read flagged content"),
    # audit
    "audit.read": Rule(frozenset({"provider_admin", "legal"}), _ORG_ADMINS, "read audit entries"),
    "audit.verify": Rule(frozenset({"provider_admin", "legal"}), _NONE, "verify the audit chain"),
    # accounts
    "user.create": Rule(_ADMIN, _NONE, "create a user"),
    "membership.grant": Rule(_ADMIN, frozenset({"org_owner"}), "give a user a role in an org"),
    "user.read": Rule(_ADMIN, _NONE, "list users and their roles"),
    "user.manage": Rule(_ADMIN, _NONE, "set another user's password or disable a user"),
    "member.read": Rule(_ADMIN, _ORG_ADMINS, "list the people of an organization"),
    "token.create": Rule(_ADMIN, _NONE, "create an admin API token for any user"),
    "token.revoke": Rule(_ADMIN, _NONE, "revoke any user's admin API token"),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone acting on the control plane: a user, or the local operator of the CLI."""

    user_id: str
    email: str
    provider_roles: frozenset[str] = frozenset()
    org_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def is_provider(self) -> bool:
        return bool(self.provider_roles)

    def member_of(self, org_id: str) -> bool:
        return bool(self.org_roles.get(org_id))

    def role_label(self, org_id: str | None = None) -> str:
        """The role recorded in the audit log for an action on `org_id`."""
        for role in PROVIDER_ROLES:
            if role in self.provider_roles:
                return role
        roles = self.org_roles.get(org_id or "", frozenset())
        for role in ORG_ROLES:
            if role in roles:
                return role
        return "none"


def system_actor(email: str = "local-operator") -> Actor:
    """The CLI's local operator: whoever holds the home folder and its master key."""
    return Actor(user_id=SYSTEM_ACTOR_ID, email=email, provider_roles=frozenset({"provider_admin"}))


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str
    hide: bool = False   # the actor may not even learn that the organization exists


def authorize(actor: Actor, action: str, org_id: str | None) -> Verdict:
    """May `actor` do `action` on organization `org_id` (None: not about one organization)?"""
    rule = PERMISSIONS.get(action)
    if rule is None:
        return Verdict(False, f"unknown action {action!r}")
    provider = sorted(actor.provider_roles & rule.provider)
    if provider:
        return Verdict(True, f"provider role {provider[0]} may {rule.summary}")
    if org_id is not None:
        roles = actor.org_roles.get(org_id, frozenset())
        granted = sorted(roles & rule.org)
        if granted:
            return Verdict(True, f"org role {granted[0]} may {rule.summary} in its organization")
        if not roles and not actor.is_provider:
            return Verdict(False, "not a member of this organization", hide=True)
    held = ", ".join(sorted(actor.provider_roles | _roles_in(actor, org_id))) or "no role"
    return Verdict(False, f"{held} may not {rule.summary}")


def _roles_in(actor: Actor, org_id: str | None) -> frozenset[str]:
    return actor.org_roles.get(org_id, frozenset()) if org_id is not None else frozenset()
