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
from pathlib import Path
from typing import BinaryIO

__all__ = ["PCAP_MAGIC", "PCAP_VERSION", "PCAP_SNAPLEN", "LINKTYPE_ETHERNET", "write_pcap", "pcap_bytes",
           "PcapSpool"]

PCAP_MAGIC = 0xA1B2C3D4            # microsecond-resolution timestamps
PCAP_VERSION = (2, 4)
PCAP_SNAPLEN = 262144              # tcpdump's default snapshot length
LINKTYPE_ETHERNET = 1              # tcpdump.org link-layer header types

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_US = 1_000_000


def _record_header(t: float, length: int) -> bytes:
    """A record's 16-byte header for a frame of `length` bytes captured at `t` seconds."""
    # Round the whole time once so 0.9999996 s becomes 1 s 0 us, never 0 s 1000000 us.
    sec, usec = divmod(round(t * _US), _US)
    return _RECORD.pack(sec, usec, min(length, PCAP_SNAPLEN), length)


def _global_header() -> bytes:
    return _GLOBAL.pack(PCAP_MAGIC, PCAP_VERSION[0], PCAP_VERSION[1], 0, 0, PCAP_SNAPLEN,
                        LINKTYPE_ETHERNET)


def _chunks(records: Iterable[tuple[float, bytes]]):
    yield _global_header()
    for t, frame in records:
        yield _record_header(t, len(frame))
        yield bytes(frame[:PCAP_SNAPLEN])


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


class PcapSpool:
    """One interface's capture, written to its pcap file while the run goes on.

    `record(t, frame)` appends the record as the file will hold it (record header and
    frame bytes) to a buffer; `spill()` -- called by the run every few thousand events
    and at its end -- appends the buffer to the file and empties it, so a long run
    holds only the latest records, not the whole capture, and no per-record object is
    kept.  The file is created at the first spill that has a record: an interface that
    saw nothing leaves no file.  The bytes are those `write_pcap` writes for all the
    records at once.
    """

    __slots__ = ("path", "started", "_buf")

    def __init__(self, path: str | PathLike):
        self.path = Path(path)
        self.started = False         # the file exists, global header written
        self._buf = bytearray()

    def record(self, t: float, frame) -> None:
        n = len(frame)
        buf = self._buf
        buf += _record_header(t, n)
        buf += frame if n <= PCAP_SNAPLEN else frame[:PCAP_SNAPLEN]

    @property
    def pending_bytes(self) -> int:
        """Bytes recorded and not written yet."""
        return len(self._buf)

    def spill(self) -> None:
        if not self._buf:
            return
        with open(self.path, "ab" if self.started else "wb") as fh:
            if not self.started:
                fh.write(_global_header())
            fh.write(self._buf)
        self.started = True
        self._buf.clear()
