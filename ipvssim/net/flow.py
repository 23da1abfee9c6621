"""A traffic connection (TCP connection or UDP flow) as the report sees it."""
from __future__ import annotations

__all__ = ["Flow"]


class Flow:
    """One client connection, from the first SYN (or datagram) to success or failure.

    Sockets and the director fill it in; packets carry a reference to it
    (`Packet.flow`) so that paths and per-server counts can be reported without
    inspecting headers.  Nothing in the network's behaviour depends on it.
    """
    __slots__ = ("fid", "traffic", "client", "protocol", "start", "end", "status", "reason",
                 "request_bytes", "response_bytes", "received", "request_path", "reply_path",
                 "real_server", "served_by", "director", "syn_retries", "resets")

    def __init__(self, fid: int, traffic: str, client: str, protocol: str, start: float,
                 request_bytes: int, response_bytes: int):
        self.fid = fid
        self.traffic = traffic
        self.client = client            # client host name
        self.protocol = protocol
        self.start = start              # simulated time the connection was opened
        self.end: float | None = None   # time it succeeded or failed
        self.status = "pending"         # "pending" | "succeeded" | "failed"
        self.reason = ""                # why it failed ("reset", "timeout", "unreachable" ...)
        self.request_bytes = request_bytes
        self.response_bytes = response_bytes
        self.received = 0               # response bytes the client application got
        self.request_path: list[str] | None = None   # hosts of the first client->server packet that arrived
        self.reply_path: list[str] | None = None     # hosts of the first server->client packet that arrived
        self.real_server: str | None = None          # the director's pick (its label for the dest)
        self.served_by: str | None = None            # host whose server application took the connection
        self.director: str | None = None
        self.syn_retries = 0
        self.resets = 0

    def succeed(self, now: float) -> None:
        if self.status == "pending":
            self.status, self.end = "succeeded", now

    def fail(self, now: float, reason: str) -> None:
        if self.status == "pending":
            self.status, self.end, self.reason = "failed", now, reason

    @property
    def latency(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def __repr__(self) -> str:
        return f"<Flow {self.fid} {self.traffic} {self.client} {self.status}>"
