"""Parse the quantities users write in scenario files: ``10us``, ``100Mbps``, ``20KB``, ``50/s``.

Every parser takes a string (or a plain number, which is taken in the base unit: seconds,
bits per second, bytes, per second) and returns the value in the base unit.  Bad input
raises `ValueError` whose message says what was expected, so the scenario loader can
show it to the user unchanged.

>>> parse_time("1.5ms")
0.0015
>>> parse_rate("100Mbps")
100000000.0
>>> parse_size("1KiB")
1024
>>> parse_per_second("50/s")
50.0
"""
from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Mapping

__all__ = ["parse_time", "parse_rate", "parse_size", "parse_per_second",
           "TIME_UNITS", "RATE_UNITS", "SIZE_UNITS", "PER_SECOND_UNITS"]

TIME_UNITS: Mapping[str, float] = {
    "": 1.0, "s": 1.0, "sec": 1.0, "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3,
    "min": 60.0, "h": 3600.0,
}

# Decimal (SI) prefixes for bit rates, as link speeds are quoted.  Lower-case "mbps"/"gbps"
# are accepted because nobody means milli-bits; byte rates (B/s) are multiplied by 8.
RATE_UNITS: Mapping[str, float] = {
    "": 1.0, "bps": 1.0, "bit/s": 1.0,
    "kbps": 1e3, "Kbps": 1e3, "kbit/s": 1e3, "Kbit/s": 1e3,
    "Mbps": 1e6, "mbps": 1e6, "Mbit/s": 1e6,
    "Gbps": 1e9, "gbps": 1e9, "Gbit/s": 1e9,
    "Tbps": 1e12, "Tbit/s": 1e12,
    "B/s": 8.0, "kB/s": 8e3, "KB/s": 8e3, "MB/s": 8e6, "GB/s": 8e9,
}

# KB/MB/GB are decimal (IEC 80000-13); KiB/MiB/GiB binary.
SIZE_UNITS: Mapping[str, int] = {
    "": 1, "B": 1, "bytes": 1,
    "kB": 1000, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3,
    "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3,
}

PER_SECOND_UNITS: Mapping[str, float] = {
    "": 1.0, "/s": 1.0, "/sec": 1.0, "/ms": 1e3, "/min": 1 / 60, "/h": 1 / 3600,
}

_QUANTITY = re.compile(r"^\s*((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*(\S*)\s*$")


def _split(value: object, what: str, example: str) -> tuple[Decimal, str]:
    """(number, unit) from a string or number; ValueError naming `what` otherwise.

    Decimal arithmetic so that "10us" is exactly the float 1e-05, not 9.999999999999999e-06.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected {what} like {example}, got {_show(value)}")
    if isinstance(value, (int, float)):
        number, unit = Decimal(repr(value)), ""
    elif isinstance(value, str):
        m = _QUANTITY.match(value)
        if m is None:
            hint = " (negative values make no sense here)" if value.strip().startswith("-") else ""
            raise ValueError(f"expected {what} like {example}, got {_show(value)}{hint}")
        number, unit = Decimal(m.group(1)), m.group(2)
    else:
        raise ValueError(f"expected {what} like {example}, got {_show(value)}")
    if not number.is_finite():
        raise ValueError(f"expected {what} like {example}, got {_show(value)}")
    if number < 0:
        raise ValueError(f"expected {what} like {example}, got {_show(value)} "
                         "(negative values make no sense here)")
    return number, unit


def _show(value: object) -> str:
    if value is None:
        return "nothing"
    return repr(value) if isinstance(value, str) else str(value)


def _scale(number: Decimal, factor: float, value: object) -> float:
    scaled = float(number * Decimal(repr(factor)))
    if math.isinf(scaled):
        # "1e400s" is a valid Decimal but no float; an infinite horizon or bandwidth would
        # hang or divide the simulator into nonsense, so say so here.
        raise ValueError(f"{_show(value)} is too large")
    return scaled


def _unknown_unit(value: object, unit: str, what: str, units: Mapping[str, object],
                  hint: str = "") -> ValueError:
    known = ", ".join(u for u in units if u)
    return ValueError(f"unknown unit {unit!r} in {_show(value)}: expected {what} "
                      f"in one of {known}{hint}")


def parse_time(value: str | int | float) -> float:
    """Seconds from ``"10us"``, ``"1.5ms"``, ``"2s"``, ``"5min"`` or a number of seconds.

    >>> parse_time("10us")
    1e-05
    >>> parse_time(2)
    2.0
    """
    number, unit = _split(value, "a number of seconds", "10ms")
    if unit not in TIME_UNITS:
        hint = " (write 'min' for minutes or 'ms' for milliseconds)" if unit == "m" else ""
        raise _unknown_unit(value, unit, "a time", TIME_UNITS, hint)
    return _scale(number, TIME_UNITS[unit], value)


def parse_rate(value: str | int | float) -> float:
    """Bits per second from ``"1Gbps"``, ``"100Mbps"``, ``"64kbps"``, ``"1.5Gbit/s"`` or a number.

    >>> parse_rate("64kbps")
    64000.0
    """
    number, unit = _split(value, "a bit rate", "100Mbps")
    if unit not in RATE_UNITS:
        raise _unknown_unit(value, unit, "a bit rate", RATE_UNITS)
    return _scale(number, RATE_UNITS[unit], value)


def parse_size(value: str | int | float) -> int:
    """Bytes from ``"300B"``, ``"20KB"`` (1000), ``"1KiB"`` (1024), ``"1MB"`` or a number.

    The result must be a whole number of bytes.

    >>> parse_size("20KB")
    20000
    """
    number, unit = _split(value, "a size in bytes", "20KB")
    if unit not in SIZE_UNITS:
        hint = ""
        if unit.lower().endswith("b") and unit[:-1] + "B" in SIZE_UNITS:
            hint = f" (sizes are bytes: write {unit[:-1]}B; a lower-case b means bits)"
        raise _unknown_unit(value, unit, "a size", SIZE_UNITS, hint)
    total = number * SIZE_UNITS[unit]
    if total != total.to_integral_value():
        raise ValueError(f"{_show(value)} is not a whole number of bytes")
    return int(total)


def parse_per_second(value: str | int | float) -> float:
    """Events per second from ``"50/s"``, ``"3000/min"``, ``"1/70s"`` or a number.

    >>> parse_per_second("120/min")
    2.0
    >>> parse_per_second("2/500ms")
    4.0
    """
    number, unit = _split(value, "a rate per second", "50/s")
    if unit.startswith("/") and unit[1:2].isdigit():
        # "N/<time>": N events every <time>, e.g. one connection every 70 s
        period = parse_time(unit[1:])
        if period <= 0:
            raise ValueError(f"the period in {value!r} must be positive")
        return _scale(number, 1.0 / period, value)
    if unit not in PER_SECOND_UNITS:
        raise _unknown_unit(value, unit, "a rate", PER_SECOND_UNITS)
    return _scale(number, PER_SECOND_UNITS[unit], value)
