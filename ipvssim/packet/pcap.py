"""Classic libpcap capture files, written by hand (no Scapy on this path).

Format: https://wiki.wireshark.org/Development/LibpcapFileFormat (global header,
then a 16-byte record header per frame).  Output depends only on the records, so
two runs of the same scenario give byte-identical files.

>>> import io
>>> buf = io.BytesIO()
>>> write_pcap(buf, [(1.5, b"\\x00" * 14)])
>>> len(buf.getvalue())
54
"""
from __future__ import annotations

import struct
from collections.abc import Iterable
from os import PathLike
from typing import BinaryIO

__all__ = ["PCAP_MAGIC", "PCAP_VERSION", "PCAP_SNAPLEN", "LINKTYPE_ETHERNET", "write_pcap", "pcap_bytes"]

PCAP_MAGIC = 0xA1B2C3D4            # microsecond-resolution timestamps
PCAP_VERSION = (2, 4)
PCAP_SNAPLEN = 262144              # tcpdump's default snapshot length
LINKTYPE_ETHERNET = 1              # tcpdump.org link-layer header types

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_US = 1_000_000


def _chunks(records: Iterable[tuple[float, bytes]]):
    yield _GLOBAL.pack(PCAP_MAGIC, PCAP_VERSION[0], PCAP_VERSION[1], 0, 0, PCAP_SNAPLEN, LINKTYPE_ETHERNET)
    for t, frame in records:
        # Round the whole time once so 0.9999996 s becomes 1 s 0 us, never 0 s 1000000 us.
        sec, usec = divmod(round(t * _US), _US)
        caplen = min(len(frame), PCAP_SNAPLEN)
        yield _RECORD.pack(sec, usec, caplen, len(frame))
        yield bytes(frame[:caplen])


def pcap_bytes(records: Iterable[tuple[float, bytes]]) -> bytes:
    """The pcap file for `records` ((time in seconds, Ethernet frame) pairs) as bytes."""
    return b"".join(_chunks(records))


def write_pcap(path: str | PathLike | BinaryIO, records: Iterable[tuple[float, bytes]]) -> None:
    """Write (time_s, frame) records as a classic pcap file (Ethernet link type).

    `path` may also be an open binary file object.  Records are written in the order
    given; frames longer than the snap length are truncated as a capture would.
    """
    if hasattr(path, "write"):
        for chunk in _chunks(records):
            path.write(chunk)
        return
    with open(path, "wb") as fh:
        for chunk in _chunks(records):
            fh.write(chunk)
