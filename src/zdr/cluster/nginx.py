"""nginx in front of the gateway's instances: its configuration, and a foreground process of it.

`render_site(...)` is the site file (the `http`-level part: upstream, server, error pages in the
API's format); `deploy/nginx/zdr-gateway.conf` is this rendered for two instances, and a test
keeps the two equal. `render_main(...)` wraps it for a private prefix: nginx run in the
foreground with `-p PREFIX -c nginx.conf` (what `zdr cluster up` does). As root, nginx's worker
processes need an unprivileged user: `www-data` (Debian's), else `nobody`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from zdr.testing.servers import port_open

WORKER_USERS = ("www-data", "nobody")
READ_TIMEOUT_SECONDS = 660      # longer than the gateway's own upstream read timeout (600 s)
START_SECONDS = 15.0

_templates = Environment(loader=PackageLoader("zdr.cluster", "templates"),
                         undefined=StrictUndefined, keep_trailing_newline=True,
                         autoescape=False)  # noqa: S701 - nginx configuration, not HTML


class NginxUnavailable(RuntimeError):
    """nginx is not installed, or would not start (the message carries its own words)."""


def render_site(instances: Sequence[str], listen: str, access_log: str, error_log: str, *,
                tls_certificate: str | None = None, tls_key: str | None = None,
                read_timeout: int = READ_TIMEOUT_SECONDS) -> str:
    """The site file: `instances` are `host:port` of `zdr serve` processes; with a certificate
    and key nginx terminates TLS (then `listen` says `443 ssl`)."""
    return _templates.get_template("nginx_site.conf.j2").render(
        instances=list(instances), listen=listen, access_log=access_log, error_log=error_log,
        tls_certificate=tls_certificate, tls_key=tls_key, read_timeout=read_timeout)


def example_site() -> str:
    """`deploy/nginx/zdr-gateway.conf`: TLS on 443, two instances on this machine (systemd
    units zdr-gateway@8801 and @8802). Regenerate it with `python -m zdr.cluster.nginx`."""
    return render_site(["127.0.0.1:8801", "127.0.0.1:8802"], "443 ssl",
                       "/var/log/nginx/zdr-gateway.access.log",
                       "/var/log/nginx/zdr-gateway.error.log",
                       tls_certificate="/etc/zdr/tls/fullchain.pem",
                       tls_key="/etc/zdr/tls/privkey.pem")


def render_main(prefix: Path, user: str | None, error_log_level: str = "crit") -> str:
    return _templates.get_template("nginx_main.conf.j2").render(
        prefix=str(prefix), user=user, error_log_level=error_log_level)


def nginx_binary() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    raise NginxUnavailable("nginx is not installed (Debian: apt-get install nginx)")


def worker_user() -> str | None:
    """The user nginx's workers run as: none of ours when not root, else www-data or nobody."""
    if os.geteuid() != 0:
        return None
    for name in WORKER_USERS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise NginxUnavailable("running as root, and neither www-data nor nobody exists for "
                           "nginx's worker processes")


@dataclass
class Nginx:
    """nginx under `prefix`, listening on 127.0.0.1:`port`, in front of `instances`."""

    prefix: Path
    port: int
    instances: list[str]
    read_timeout: int = READ_TIMEOUT_SECONDS
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "access.log"

    def write_config(self) -> None:
        for folder in ("logs", "temp"):
            (self.prefix / folder).mkdir(parents=True, exist_ok=True)
        user = worker_user()
        site = render_site(self.instances, f"127.0.0.1:{self.port}", str(self.access_log),
                           str(self.prefix / "logs" / "error.log"), read_timeout=self.read_timeout)
        (self.prefix / "zdr-gateway.conf").write_text(site, encoding="utf-8")
        self.config.write_text(render_main(self.prefix, user), encoding="utf-8")
        if user is not None:        # the workers own their (unused) temp folders, no one else
            temp = self.prefix / "temp"
            shutil.chown(temp, user=user)
            temp.chmod(0o700)

    def test_config(self) -> None:
        done = subprocess.run(  # noqa: S603 - nginx with our own paths
            [nginx_binary(), "-t", "-q", "-p", str(self.prefix), "-c", str(self.config)],
            capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise NginxUnavailable(f"nginx refused its configuration: {done.stderr.strip()}")

    def start(self) -> None:
        self.write_config()
        self.test_config()
        out = (self.prefix / "logs" / "nginx.out").open("ab")
        with out:
            self.process = subprocess.Popen(  # noqa: S603 - nginx with our own paths
                [nginx_binary(), "-p", str(self.prefix), "-c", str(self.config)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if port_open(self.port):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        text = (self.prefix / "logs" / "nginx.out").read_text(errors="replace")[-1000:]
        raise NginxUnavailable(f"nginx did not listen on port {self.port}: {text}")

    def reload(self, instances: list[str]) -> None:
        """New instances: rewrite the site file and have nginx re-read it (SIGHUP)."""
        self.instances = instances
        self.write_config()
        self.test_config()
        if self.process is not None:
            self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGQUIT)        # graceful: finish open requests
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


if __name__ == "__main__":
    print(example_site(), end="")
