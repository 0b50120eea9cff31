"""The simulated module's configuration: what the launcher tells it about its network and how it should behave.

Set at start (``sim:bg96?KEY=VALUE``, ``--set KEY=VALUE``, ``launch(config=...)``) and changed later through the
control command ``configure``. Every key is type- and range-checked; text is accepted where a number, a truth value or
a list is expected, since transcripts pass control arguments as text. docs/simulator.md lists every key.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields
from typing import Any

from .netops import ipv4_literal, system_dns_servers

__all__ = ["TIMING_ENV", "TIMING_PROFILES", "ConfigError", "SimConfig", "as_bool"]

TIMING_ENV = "CONFORMANCE_SIM_TIMING"  # the timing profile when no key sets one (CI sets it for a whole run)
SEED_ENV = "CONFORMANCE_SIM_SEED"
TIMING_PROFILES = ("instant", "realistic")


class ConfigError(ValueError):
    """A configuration key or value the module cannot take (the control channel answers it as an error)."""


def as_bool(value: Any, name: str) -> bool:
    """A truth value from JSON or transcript text: true/false, 1/0, on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "1", "on", "false", "0", "off"):
        return value.lower() in ("true", "1", "on")
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _env_timing() -> str:
    value = os.environ.get(TIMING_ENV, "").strip().lower()
    return value if value in TIMING_PROFILES else "instant"


def _env_seed() -> int:
    value = os.environ.get(SEED_ENV, "").strip()
    return int(value) if value.isdigit() else 0


def _key(kind: str, low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"kind": kind, "low": low, "high": high}


@dataclass
class SimConfig:
    """What the launcher tells the simulated module (control ``configure``)."""

    local_ip: str = field(default="127.0.0.1", metadata=_key("ipv4"))  # the module's address
    local_ipv6: str = field(default="2001:db8::2", metadata=_key("ipv6"))  # with dual_stack (documentation range)
    dns_servers: list[str] = field(default_factory=lambda: system_dns_servers() or ["127.0.0.1"],
                                   metadata=_key("ipv4_list"))
    dns_port: int = field(default=53, metadata=_key("int", 1, 65535))  # every DNS query goes to this port
    dns_timeout_s: float = field(default=5.0, metadata=_key("float", 0, 86400))  # ASSUMPTION: per server
    connect_timeout_s: float = field(default=5.0, metadata=_key("float", 0, 86400))  # ASSUMPTION: then 569
    ntp_timeout_s: float = field(default=5.0, metadata=_key("float", 0, 86400))  # ASSUMPTION: AT+QNTP gives up (569)
    activation_delay_s: float = field(default=0.0, metadata=_key("float", 0, 86400))  # an activation's least time
    timezone_quarters: int = field(default=0, metadata=_key("int", -48, 56))  # the network's zone (±zz of +CCLK)
    recv_buffer_bytes: int = field(default=16384, metadata=_key("int", 1, 1 << 24))  # ASSUMPTION: per socket
    trace: bool = field(default=False, metadata=_key("bool"))  # log every byte of the serial side
    timing: str = field(default_factory=_env_timing, metadata=_key("choice"))  # "instant" or "realistic"
    seed: int = field(default_factory=_env_seed, metadata=_key("int", 0, 2**63 - 1))  # of the realistic delays
    boot_active_contexts: list[int] = field(default_factory=list, metadata=_key("int_list", 0, 255))
    dual_stack: bool = field(default=False, metadata=_key("bool"))  # the network gives IPv4 and IPv6 addresses
    deactivation_delay_s: float = field(default=0.0, metadata=_key("float", 0, 86400))  # a deactivation's least time
    sleep_after_s: float = field(default=1.0, metadata=_key("float", 0, 86400))  # idle time before a module may sleep

    def update(self, values: dict[str, Any]) -> None:
        """Set the given keys, type-checked; an unknown key or a bad value raises ConfigError and changes nothing."""
        known = {f.name: f for f in fields(self)}
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"unknown configuration key {key!r}; known: {', '.join(sorted(known))}")
            checked[key] = _coerce(key, known[key].metadata, value)
        for key, value in checked.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(key: str, meta: Any, value: Any) -> Any:
    kind, low, high = meta["kind"], meta["low"], meta["high"]
    try:
        if kind == "bool":
            return as_bool(value, key)
        if kind == "choice":
            if not isinstance(value, str) or value.lower() not in TIMING_PROFILES:
                raise ValueError
            return value.lower()
        if kind in ("ipv4", "ipv4_or_empty"):  # "ipv4_or_empty": an address, or "" for "work it out"
            if not isinstance(value, str) or (ipv4_literal(value) is None and not (kind == "ipv4_or_empty"
                                                                                   and value == "")):
                raise ValueError
            return value
        if kind == "ipv6":
            if not isinstance(value, str) or ipaddress.ip_address(value).version != 6:
                raise ValueError
            return value
        if kind == "ipv4_list":
            items = [v for v in value.split(",") if v] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) and ipv4_literal(v) for v in items):
                raise ValueError
            return list(items)
        if kind == "int_list":
            items = [v for v in value.strip("[]").split(",") if v.strip()] if isinstance(value, str) else value
            if isinstance(items, int) and not isinstance(items, bool):
                items = [items]
            if not isinstance(items, list):
                raise ValueError
            return [_number(key, int, v, low, high) for v in items]
        return _number(key, float if kind == "float" else int, value, low, high)
    except (TypeError, ValueError):
        raise ConfigError(f"configuration {key}: bad value {value!r}") from None


def _number(key: str, kind: type, value: Any, low: float | None, high: float | None) -> Any:
    if isinstance(value, bool):
        raise ValueError(key)
    if kind is int and isinstance(value, str):
        value = value.strip()
    number = kind(value)
    if number != number:  # NaN
        raise ValueError(key)
    if kind is int and isinstance(value, float) and value != number:
        raise ValueError(key)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(key)
    return number
