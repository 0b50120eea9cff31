"""A module in a labgrid place: its serial port and its power switch, as labgrid's coordinator describes them.

Two ways in, both resolved by labgrid itself (its client session, its resources, its power drivers):

- ``--modem labgrid:<place>[?coordinator=HOST:PORT]``: a place at the coordinator (``LG_COORDINATOR``, default
  ``127.0.0.1:20408``), reserved and acquired beforehand by this user on this host (``labgrid-client -p PLACE
  reserve --wait``, ``acquire``), as labgrid requires before a place's resources may be used;
- ``pytest --lg-env env.yaml`` (labgrid's own pytest plugin): the environment's target (``?role=`` other than
  ``main``), with a ``RemotePlace`` or local resources; the plugin turns it into ``--modem labgrid-env:<file>``.

The port: a ``NetworkSerialPort`` (an exporter's ser2net) opens as ``rfc2217://host:port?ign_set_control`` (or
``socket://`` for a raw one), through labgrid's proxy manager when the lab reaches exporters over SSH; a local
``RawSerialPort`` / ``USBSerialPort`` opens as its device. The power: the target's ``PowerProtocol`` driver (an
``ExternalPowerDriver`` in env.yaml, say), else one made for the place's power resource as ``labgrid-client power``
does; it replaces ``--power-cycle-cmd`` (:class:`LabgridPower`).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..link.ports import OpenedPort, open_port
from ..strategy import PowerCycleFailed

__all__ = ["LabgridError", "LabgridPower", "open_labgrid_env_url", "open_labgrid_url", "power_driver", "serial_url"]

# A place's power resource -> the driver labgrid-client's "power" command makes for it (labgrid/remote/client.py).
POWER_DRIVERS = {
    "NetworkPowerPort": "NetworkPowerDriver",
    "NetworkUSBPowerPort": "USBPowerDriver",
    "NetworkSiSPMPowerPort": "SiSPMPowerDriver",
    "PDUDaemonPort": "PDUDaemonDriver",
    "TasmotaPowerPort": "TasmotaPowerDriver",
    "NetworkYKUSHPowerPort": "YKUSHPowerDriver",
}


class LabgridError(RuntimeError):
    """labgrid is not installed, the place is unknown or not acquired, or it has no serial port."""


class LabgridPower:
    """Power-cycling a module through its place's labgrid power driver (a :class:`conformance.strategy.PowerCycler`).

    The port is not reopened on purpose: the start-up lines are read on it, and if it goes away (a USB module's
    exporter restarting ser2net) the strategy reopens it then.
    """

    reopens_port = False
    announces = True

    def __init__(self, driver: Any, place: str) -> None:
        self.driver = driver
        self.place = place

    def cycle(self) -> str:
        try:
            self.driver.cycle()
        except Exception as exc:  # whatever the power backend raises: a command's exit status, a PDU's HTTP error
            raise PowerCycleFailed(f"labgrid {type(self.driver).__name__} of place {self.place}: {exc}") from None
        return f"power cycle: labgrid {type(self.driver).__name__} of place {self.place}"


def open_labgrid_url(url: str, baudrate: int) -> OpenedPort:
    """The opener of ``labgrid:<place>[?coordinator=HOST:PORT]``."""
    parts = urlsplit(url)
    place = (parts.netloc + parts.path).strip("/")
    if not place:
        raise LabgridError(f"{url}: name the place, e.g. labgrid:bg96-bench7")
    query = dict(parse_qsl(parts.query))
    labgrid = _labgrid()
    if query.get("coordinator"):
        os.environ["LG_COORDINATOR"] = query["coordinator"]  # labgrid's RemotePlace reads its coordinator from here
    target = labgrid.Target(place, env=None)
    try:
        from labgrid.resource.remote import RemotePlace

        RemotePlace(target, name=place)
    except Exception as exc:
        target.cleanup()
        raise LabgridError(f"{url}: {_first_line(exc)} (is the place acquired by you on this host? "
                           f"labgrid-client -p {place} acquire)") from None
    return _open_target(url, target, place, baudrate)


def open_labgrid_env_url(url: str, baudrate: int) -> OpenedPort:
    """The opener of ``labgrid-env:<env.yaml>[?role=main]``: the target of a labgrid environment file."""
    parts = urlsplit(url)
    path = parts.netloc + parts.path
    role = dict(parse_qsl(parts.query)).get("role", "main")
    labgrid = _labgrid()
    try:
        env = labgrid.Environment(config_file=path)
        target = env.get_target(role)
    except Exception as exc:
        raise LabgridError(f"{url}: {_first_line(exc)}") from None
    if target is None:
        raise LabgridError(f"{url}: the environment has no target {role!r}")
    return _open_target(url, target, role, baudrate)


def serial_url(target: Any) -> tuple[str, bool]:
    """The pyserial URL of ``target``'s serial port, and whether it crosses the network."""
    from labgrid.resource import NetworkSerialPort, RawSerialPort, USBSerialPort
    from labgrid.util.proxy import proxymanager

    for resource in target.resources:
        if isinstance(resource, NetworkSerialPort):
            target.await_resources([resource], timeout=10.0)
            host, port = proxymanager.get_host_and_port(resource)
            if resource.protocol == "rfc2217":
                # as labgrid's own SerialDriver: ser2net in front of a port without modem lines never confirms DTR
                return f"rfc2217://{host}:{port}?ign_set_control", True
            return f"socket://{host}:{port}", True
    for resource in target.resources:
        if isinstance(resource, (RawSerialPort, USBSerialPort)):
            target.await_resources([resource], timeout=10.0)
            if not resource.port:
                raise LabgridError(f"the serial port of {target.name} is not there (unplugged?)")
            return resource.port, False
    raise LabgridError(f"{target.name} has no serial port (NetworkSerialPort, RawSerialPort or USBSerialPort)")


def power_driver(target: Any) -> Any | None:
    """``target``'s power driver: its ``PowerProtocol`` driver, else one made for its power resource; None if none."""
    from labgrid.exceptions import NoDriverFoundError
    from labgrid.factory import target_factory

    try:
        return target.get_driver("PowerProtocol")
    except NoDriverFoundError:
        pass
    for resource in target.resources:
        name = POWER_DRIVERS.get(type(resource).__name__)
        if name is None:
            continue
        driver = target_factory.make_driver(target, name, None, {})
        target.activate(driver)
        return driver
    return None


def _open_target(url: str, target: Any, place: str, baudrate: int) -> OpenedPort:
    try:
        port_url, network = serial_url(target)
        driver = power_driver(target)
    except LabgridError:
        target.cleanup()
        raise
    except Exception as exc:
        target.cleanup()
        raise LabgridError(f"{url}: {_first_line(exc)}") from None
    try:
        opened = open_port(port_url, baudrate)
    except Exception:
        target.cleanup()
        raise
    previous = opened.on_close

    def close() -> None:
        try:
            if previous is not None:
                previous()
        finally:
            target.cleanup()

    opened.url = url
    opened.on_close = close
    opened.info.update({"labgrid": place, "port_url": port_url, "network": network})
    if driver is not None:
        opened.info["power_cycler"] = LabgridPower(driver, place)
    return opened


def _labgrid() -> Any:
    try:
        import labgrid
    except ImportError:
        raise LabgridError("labgrid is not installed: pip install 'quectel-conformance[lab]'") from None
    return labgrid


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
