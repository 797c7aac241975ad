"""Configuration, read once into a frozen object: `ZDR_HOME/config.toml`, then `ZDR_*` variables.

This is the only module that reads the environment. Tests pass a mapping to `load_settings`.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_PROVIDER_URL = "https://api.anthropic.com"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Path("zdr-home")
    db_url: str = ""                       # empty: sqlite file in home
    catalog_path: Path | None = None       # empty: the packaged default catalog
    master_key: str | None = Field(default=None, repr=False)   # base64; else master_key_file
    master_key_file: Path | None = None    # default: home/master.key
    provider_api_key: str | None = Field(default=None, repr=False)
    upstream_url: str | None = None        # empty: provider URL with a key, else the stand-in
    stub_port: int = 8788
    host: str = "127.0.0.1"
    port: int = 8787
    workers: int = 1
    log_path: Path | None = None           # default: home/logs/gateway.log
    temp_dir: Path | None = None           # default: home/tmp
    key_cache_ttl_seconds: float = 2.0
    upstream_timeout_seconds: float = 600.0
    upstream_client: Literal["aiohttp", "httptools"] = "httptools"   # the relay's HTTP client
    http_protocol: Literal["zdr", "uvicorn"] = "zdr"   # the server's per-connection protocol
    max_body_bytes: int = 32 * 1024 * 1024
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)   # names + values + 4 per header
    max_header_count: int = Field(default=100, ge=8)
    header_timeout_seconds: float = Field(default=30.0, gt=0)   # a request head, first byte to last
    classifier: str = "zdr.safety.default:DefaultClassifier"
    classifier_workers: int = 1
    classifier_queue: int = 1000
    flag_thresholds: dict[str, float] = Field(default_factory=dict)
    purge_interval_seconds: float = 60.0   # 0: the gateway does not sweep (a zdr purge timer)
    write_queue: int = 10000
    session_secret: str | None = Field(default=None, repr=False)
    console_secure_cookies: bool = False
    metrics_token: str | None = Field(default=None, repr=False)   # bearer token for /metrics
    metrics_port: int | None = None        # serve /metrics there only (on metrics_host)
    metrics_host: str = "127.0.0.1"
    # Proxies (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto the console
    # believes; empty: none, the peer of the connection is the client.
    forwarded_allow_ips: tuple[str, ...] = ()

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _proxy_list(cls, value: Any) -> Any:
        """`ZDR_FORWARDED_ALLOW_IPS="10.0.0.5, 10.1.0.0/16"` or a TOML list; each a valid
        address or network (no wildcard: trusting every peer would let anyone pick its address)."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            return value
        networks = []
        for item in items:
            text = str(item).strip()
            if not text:
                continue
            try:
                networks.append(str(ipaddress.ip_network(text, strict=False)))
            except ValueError:
                raise ValueError(f"forwarded_allow_ips: {text!r} is not an IP address or "
                                 "network") from None
        return tuple(networks)
    # Evidence (zdr.proof): the Ed25519 signing key (PEM or base64 seed; else the key file)
    signing_key: str | None = Field(default=None, repr=False)
    signing_key_file: Path | None = None   # default: home/signing.key
    audit_checkpoint_entries: int = Field(default=100, ge=1)     # sign the audit head at least
    audit_checkpoint_minutes: float = Field(default=10.0, gt=0)  # this often (and on demand)
    # prometheus-client's multiprocess folder (PROMETHEUS_MULTIPROC_DIR), set by `zdr serve
    # --workers N` for its workers: /metrics then sums them all (zdr.observability).
    metrics_multiprocess_dir: Path | None = None
    # OpenTelemetry: an OTLP/HTTP traces endpoint (e.g. http://collector:4318/v1/traces) turns
    # on one span per exchange, never with content (zdr.tracing). Empty: no traces.
    otlp_traces_endpoint: str | None = None

    @property
    def sqlite_path(self) -> Path:
        return self.home / "zdr.sqlite3"

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.sqlite_path}"

    @property
    def key_file(self) -> Path:
        return self.master_key_file or self.home / "master.key"

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key_file or self.home / "signing.key"

    @property
    def log_file(self) -> Path:
        return self.log_path or self.home / "logs" / "gateway.log"

    @property
    def tmp_dir(self) -> Path:
        return self.temp_dir or self.home / "tmp"

    @property
    def uses_stub_upstream(self) -> bool:
        return self.upstream_url is None and self.provider_api_key is None

    @property
    def effective_upstream_url(self) -> str:
        if self.upstream_url:
            return self.upstream_url.rstrip("/")
        if self.provider_api_key:
            return DEFAULT_PROVIDER_URL
        return f"http://127.0.0.1:{self.stub_port}"


ENV_FIELDS = {name: f"ZDR_{name.upper()}" for name in Settings.model_fields}
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"     # prometheus-client's own name
SECRET_FIELDS = ("master_key", "provider_api_key", "session_secret", "metrics_token")
CONFIG_FILE = "config.toml"


def exposed_config_secrets(home: Path) -> str | None:
    """A one-line refusal if `home/config.toml` holds a secret (a key, a token, a database
    password) and users other than its owner may read it; None if it is private or holds none.
    `zdr init` writes the file 0600."""
    config = home / CONFIG_FILE
    try:
        mode = stat.S_IMODE(config.stat().st_mode)
        if not mode & 0o077:
            return None
        values = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None         # absent or unreadable: load_settings says so, or has nothing
    held = [name for name in SECRET_FIELDS if values.get(name)]
    db_url = values.get("db_url")
    if isinstance(db_url, str) and urlsplit(db_url).password:
        held.append("db_url's password")
    if not held:
        return None
    return (f"{config} holds {', '.join(held)} and other users can read it (mode {mode:04o}); "
            f"run `chmod 600 {config}` and start again")


def load_settings(
    env: Mapping[str, str] | None = None, home: str | Path | None = None, **overrides: Any
) -> Settings:
    """Settings from `home/config.toml`, then the environment, then explicit overrides."""
    env = os.environ if env is None else env
    home_path = Path(home or env.get("ZDR_HOME") or "zdr-home").absolute()
    values: dict[str, Any] = {}
    config = home_path / CONFIG_FILE
    if config.is_file():
        values.update(tomllib.loads(config.read_text(encoding="utf-8")))
    for name, variable in ENV_FIELDS.items():
        if variable in env and name != "home":
            values[name] = env[variable]
    if env.get(MULTIPROCESS_VARIABLE):
        values["metrics_multiprocess_dir"] = env[MULTIPROCESS_VARIABLE]
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["home"] = home_path
    return Settings.model_validate(values)
