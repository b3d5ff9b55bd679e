"""Server settings: the ``[server]`` (and ``[oidc]``) tables of a twin's ``twin.toml``,
overridden by ``tweeling serve`` options.

```toml
[server]
hosts = ["twin.example.nl"]          # Host names the server answers to (DNS rebinding)
cors_origins = ["https://viewer.example.nl"]   # browsers' cross-origin reads: closed if empty
max_body_bytes = 2_000_000
secure_cookies = true                # false only for plain http on a trusted network
jobs_active_per_person = 2           # queued or running jobs per person
jobs_per_hour_per_person = 30
comments_per_hour_per_person = 30

[oidc]                               # optional: sign in with an organisation's provider
issuer = "https://login.example.nl/realms/gemeente"
client_id = "tweeling"
client_secret_env = "TWEELING_OIDC_SECRET"   # the secret comes from the environment
default_role = "participant"

[cluster]                            # optional: model runs' tiles on a Dask cluster
address = "tcp://scheduler.example.nl:8786"   # or: workers = 4 (a local cluster per run)
```
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from typing import Any

from tweeling.core.errors import WorkspaceError
from tweeling.core.people import Role, check_role
from tweeling.services.cluster import Cluster

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    default_role: Role = Role.PARTICIPANT
    scope: str = "openid profile email"
    title: str = "Sign in with your organisation"
    metadata_url: str | None = None  # default: issuer + /.well-known/openid-configuration


@dataclass(frozen=True)
class Settings:
    bind: str = "127.0.0.1"
    hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 2_000_000
    secure_cookies: bool = True
    jobs_active_per_person: int = 2
    jobs_per_hour_per_person: int = 30
    comments_per_hour_per_person: int = 30
    max_vertices: int = 10_000  # per geometry in a request
    max_features: int = 1_000  # interventions or features per request
    oidc: OidcSettings | None = None
    cluster: Cluster | None = None  # [cluster]: model runs' tiles on Dask
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.bind)

    def allowed_hosts(self) -> set[str]:
        """Host names (without port) the server answers to."""
        names = {h.lower() for h in self.hosts}
        if self.loopback:
            names |= set(LOOPBACK_NAMES)
        elif self.bind not in ("0.0.0.0", "::", ""):
            names.add(self.bind.lower())
        return names


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def from_config(config: dict[str, Any], **overrides: Any) -> Settings:
    """Settings from a twin's parsed ``twin.toml``; errors name the setting."""
    server = dict(config.get("server") or {})
    tables = ("oidc", "cluster", "extra", "bind")
    known = {f for f in Settings.__dataclass_fields__ if f not in tables}
    unknown = set(server) - known
    if unknown:
        raise WorkspaceError(
            f"twin.toml [server]: unknown setting(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    for key, value in server.items():
        default = getattr(Settings, key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise WorkspaceError(f"twin.toml [server] {key}: a list of texts")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise WorkspaceError(f"twin.toml [server] {key}: true or false")
        elif isinstance(default, int) and (not isinstance(value, int) or value < 1):
            raise WorkspaceError(f"twin.toml [server] {key}: a positive whole number")
        values[key] = value
    cluster = Cluster.from_config(config.get("cluster"))
    settings = Settings(**values, oidc=_oidc(config.get("oidc")), cluster=cluster)
    clean = {k: v for k, v in overrides.items() if v is not None}
    if "hosts" in clean:
        clean["hosts"] = tuple(settings.hosts) + tuple(clean["hosts"])
    return replace(settings, **clean)


def _oidc(table: Any) -> OidcSettings | None:
    if not table:
        return None
    if not isinstance(table, dict):
        raise WorkspaceError("twin.toml [oidc]: a table")
    for key in ("issuer", "client_id"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise WorkspaceError(f"twin.toml [oidc] {key}: required")
    if "client_secret" in table:
        raise WorkspaceError(
            "twin.toml [oidc]: keep the client secret out of the file; name an environment "
            "variable with client_secret_env"
        )
    env = table.get("client_secret_env", "TWEELING_OIDC_SECRET")
    secret = os.environ.get(env, "")
    if not secret:
        raise WorkspaceError(f"twin.toml [oidc]: the environment variable {env} is not set")
    try:
        role = check_role(table.get("default_role", "participant"))
    except Exception as exc:
        raise WorkspaceError(f"twin.toml [oidc] default_role: {exc}") from None
    return OidcSettings(
        issuer=table["issuer"].rstrip("/"),
        client_id=table["client_id"],
        client_secret=secret,
        default_role=role,
        scope=table.get("scope", "openid profile email"),
        title=table.get("title", "Sign in with your organisation"),
        metadata_url=table.get("metadata_url"),
    )
