"""ipvssim: a packet-level discrete-event simulator of Linux IPVS forwarding modes."""
__version__ = "0.1.0"
