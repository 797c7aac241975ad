"""`InMemoryDirectory`: the `zdr.ports.Directory` twin, keys in a dict (tests, and a gateway
started before `zdr init`)."""

from __future__ import annotations

import uuid

from zdr.keys import hash_secret, new_api_key
from zdr.policy.facts import Arrangements, OrgState, WorkspaceState
from zdr.ports import Principal


class InMemoryDirectory:
    """Key hash → principal, in a dict. `revoke` takes effect at the gateway's next cache miss."""

    def __init__(self) -> None:
        self._principals: dict[str, Principal] = {}
        self.lookups = 0

    async def principal_for(self, key_hash: str) -> Principal | None:
        self.lookups += 1
        return self._principals.get(key_hash)

    def add(self, secret: str, principal: Principal) -> None:
        self._principals[hash_secret(secret)] = principal

    def revoke(self, secret: str) -> None:
        self._principals.pop(hash_secret(secret), None)

    def create_key(
        self,
        org_name: str,
        *,
        plan: str = "api",
        zdr: bool = False,
        hipaa: bool = False,
        key_kind: str = "api",
        retention_days: int | None = None,
        workspace_override_days: int | None = None,
    ) -> tuple[str, Principal]:
        """A new key for a (new) org with the given arrangements; returns (secret, principal)."""
        key = new_api_key()
        org_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"zdr-org:{org_name}"))
        workspace_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"zdr-ws:{org_name}"))
        arrangements = Arrangements(
            org=OrgState(
                plan=plan,
                zdr_status="approved" if zdr else "none",
                hipaa=hipaa,
                baa_version="2026-01" if hipaa else None,
                retention_days=retention_days,
                org_id=org_id,
            ),
            key_kind=key_kind,
            workspace=WorkspaceState(retention_override_days=workspace_override_days,
                                     workspace_id=workspace_id),
        )
        principal = Principal(
            key_id=str(uuid.uuid4()), key_prefix=key.prefix, org_id=org_id, org_name=org_name,
            workspace_id=workspace_id, arrangements=arrangements,
        )
        self.add(key.secret, principal)
        return key.secret, principal
