"""What the Spark REST server and the master's ``/json/`` say, as frozen values (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resumable_core import ProtocolError


@dataclass(frozen=True, slots=True)
class DriverStatus:
    driver_id: str
    state: str
    worker_id: str | None
    worker_host_port: str | None
    message: str | None
    master: str


@dataclass(frozen=True, slots=True)
class MasterDriver:
    """A driver as the master's ``/json/`` lists it (no name, args or properties there)."""

    driver_id: str
    state: str
    worker_id: str | None
    main_class: str | None
    cores: int | None
    memory_mb: int | None
    start_time: float | None  # seconds since the epoch, when the master accepted it


@dataclass(frozen=True, slots=True)
class MasterState:
    url: str
    status: str
    drivers: tuple[MasterDriver, ...]
    worker_ui: Mapping[str, str]  # ALIVE worker id -> its web UI address


def parse_master_state(url: str, data: dict[str, Any]) -> MasterState:
    try:
        workers = {
            str(w["id"]): str(w["webuiaddress"])
            for w in data.get("workers", [])
            if w.get("state") == "ALIVE" and w.get("webuiaddress")
        }
        drivers = tuple(
            MasterDriver(
                driver_id=str(d["id"]),
                state=str(d["state"]),
                worker_id=opt_str(d.get("worker")),
                main_class=opt_str(d.get("mainclass")),
                cores=opt_int(d.get("cores")),
                memory_mb=opt_int(d.get("memory")),
                start_time=(int(d["starttime"]) / 1000.0) if d.get("starttime") is not None else None,
            )
            for d in list(data.get("activedrivers", [])) + list(data.get("completeddrivers", []))
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"Spark master {url}/json/ has an unexpected shape: {exc!r}") from None
    return MasterState(url=url, status=str(data.get("status")), drivers=drivers, worker_ui=workers)


# A row of the worker page's driver tables: id, main class, state (Spark 4's worker /json/
# lists no drivers, so the page is the only place a worker says what became of one).
_WORKER_DRIVER_ROW = re.compile(
    r"<td>\s*(driver-[0-9]{14}-[0-9]{4,10})\s*</td>\s*<td>[^<]*</td>\s*<td>\s*([A-Z_]+)\s*</td>"
)


def parse_worker_drivers(url: str, html: str) -> dict[str, str]:
    """Driver id -> state from a worker's web UI page (running and finished drivers)."""
    if "Spark Worker" not in html:
        raise ProtocolError(f"{url} is not a Spark worker page")
    return {driver_id: state for driver_id, state in _WORKER_DRIVER_ROW.findall(html)}


def opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value and value != "None" else None


def opt_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
