"""What `GatewayApp` is built from, in three groups (`zdr.wiring.build_app` fills them):

- `PolicyInputs`: what a decision reads besides the request — the catalog, the directory of keys,
  the owners of upstream resources, the clock, and the keyed hashes of client-chosen names and
  end users' ids;
- `Outputs`: where each exchange goes after the decision — the store's sink, the classifier's
  queue, metrics, logs, traces;
- `Limits`: bounds on a request and on how long a key's arrangements are cached.

The relay (the upstream) and the control plane's fallback stay separate arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zdr.catalog.schema import Catalog
from zdr.end_users import EndUsers
from zdr.gateway.header_limits import HeaderLimits
from zdr.gateway.metrics_access import MetricsAccess
from zdr.gateway.pseudonyms import Pseudonyms
from zdr.observability import GatewayMetrics
from zdr.ports import Clock, Directory, ExchangeSink, ResourceOwners, SafetyQueue


@dataclass(frozen=True, slots=True)
class PolicyInputs:
    catalog: Catalog
    directory: Directory
    owners: ResourceOwners
    clock: Clock
    pseudonyms: Pseudonyms      # client-chosen names in a ZDR org's record
    end_users: EndUsers         # keyed hashes of metadata.user_id


@dataclass(frozen=True, slots=True)
class Outputs:
    sink: ExchangeSink
    safety: SafetyQueue
    metrics: GatewayMetrics
    logger: Any
    log_writer: Any = None      # the access log's own writer; None: `logger` writes it
    classify: bool = True       # False: no classifier is wired, so no text is collected for it
    metrics_access: MetricsAccess = field(default_factory=MetricsAccess)
    tracer: Any = None          # zdr.tracing.ExchangeTracer, or None: traces are off


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int
    header_limits: HeaderLimits
    key_cache_ttl: float        # seconds a key's principal is cached (zdr.gateway.auth)
