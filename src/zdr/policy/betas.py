"""Rule 5a: which `anthropic-beta` values may reach the upstream (pure).

For a request under ZDR, or from an organization with HIPAA enabled, a beta the catalog does not
list, or lists as not eligible under that arrangement, is removed before relaying; the decision
names it. Every other organization's betas pass unchanged.
"""

from __future__ import annotations

from functools import lru_cache

from zdr.catalog.schema import Catalog
from zdr.policy.decision import RuleHit

Filtered = tuple[tuple[str, ...], tuple[str, ...], tuple[RuleHit, ...]]   # kept, removed, why


def filter_betas(catalog: Catalog, betas: tuple[str, ...], zdr: bool, hipaa: bool) -> Filtered:
    """(kept, removed, reasons) for the betas of one request; `zdr`: ZDR applies to it."""
    if not betas or not (zdr or hipaa):
        return betas, (), ()
    return _filter(catalog, betas, zdr, hipaa)


@lru_cache(maxsize=4096)
def _filter(catalog: Catalog, betas: tuple[str, ...], zdr: bool, hipaa: bool) -> Filtered:
    kept: list[str] = []
    unknown: list[str] = []
    not_zdr: list[str] = []
    not_hipaa: list[str] = []
    for beta in betas:
        spec = catalog.betas.get(beta)
        if spec is None:
            unknown.append(beta)
        elif zdr and not spec.zdr_eligible:
            not_zdr.append(beta)
        elif hipaa and not (spec.hipaa_eligible and (zdr or not spec.hipaa_requires_zdr)):
            not_hipaa.append(beta)
        else:
            kept.append(beta)
    arrangement = " and ".join(a for a, on in (("ZDR", zdr), ("HIPAA", hipaa)) if on)
    removed = (*unknown, *not_zdr, *not_hipaa)
    if not removed:
        return tuple(kept), (), (RuleHit(
            "betas.eligible",
            f"Every anthropic-beta value is eligible under {arrangement}: "
            f"{', '.join(kept)}."),)
    why = []
    if not_zdr:
        why.append(f"not ZDR-eligible: {', '.join(not_zdr)}")
    if not_hipaa:
        why.append("not covered by the BAA" + ("" if zdr else " without ZDR in force")
                   + f": {', '.join(not_hipaa)}")
    if unknown:
        why.append(f"not in catalog {catalog.version}: {', '.join(unknown)}")
    return tuple(kept), removed, (RuleHit(
        "betas.removed",
        f"Removed from anthropic-beta before relaying ({arrangement}): {'; '.join(why)}."),)
