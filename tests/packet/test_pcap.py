"""The pcap writer produces files tcpdump/Scapy read back exactly."""
import struct

from hypothesis import given, settings, strategies as st
from scapy.utils import rdpcap

from ipvssim.packet import wire as w
from ipvssim.packet.pcap import PCAP_SNAPLEN, pcap_bytes, write_pcap


def frame(i: int) -> bytearray:
    src, dst = w.ip_aton("10.0.0.10"), w.ip_aton("10.0.0.100")
    seg = w.tcp_segment(src, dst, 40000 + i, 80, i, 0, w.TH_SYN)
    return w.ethernet_frame(b"\x02" * 6, b"\x04" * 6, w.ETH_P_IP, w.ipv4_packet(src, dst, w.IPPROTO_TCP, seg))


def test_global_header_is_classic_pcap_ethernet_microseconds(tmp_path):
    path = tmp_path / "x.pcap"
    write_pcap(path, [])
    data = path.read_bytes()
    assert struct.unpack("<IHHiIII", data) == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)


def test_rdpcap_gives_back_the_frames_and_times(tmp_path):
    records = [(0.0, frame(0)), (0.000012, frame(1)), (1.5, frame(2)), (12.345678, frame(3))]
    path = tmp_path / "cap.pcap"
    write_pcap(path, records)
    back = rdpcap(str(path))
    assert [bytes(p) for p in back] == [bytes(f) for _, f in records]
    assert [round(float(p.time), 6) for p in back] == [t for t, _ in records]


def test_output_depends_only_on_the_records(tmp_path):
    records = [(0.25, frame(i)) for i in range(5)]
    write_pcap(tmp_path / "a.pcap", records)
    write_pcap(tmp_path / "b.pcap", records)
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes() == pcap_bytes(records)


def test_timestamp_rounding_carries_into_seconds():
    data = pcap_bytes([(0.9999996, b"\0" * 14)])
    assert struct.unpack_from("<IIII", data, 24) == (1, 0, 14, 14)


def test_frames_longer_than_snaplen_are_truncated_with_original_length_kept():
    big = b"\x01" * (PCAP_SNAPLEN + 10)
    data = pcap_bytes([(2.0, big)])
    sec, usec, caplen, origlen = struct.unpack_from("<IIII", data, 24)
    assert (sec, usec, caplen, origlen) == (2, 0, PCAP_SNAPLEN, PCAP_SNAPLEN + 10)
    assert len(data) == 24 + 16 + PCAP_SNAPLEN


def test_accepts_an_open_binary_file(tmp_path):
    path = tmp_path / "f.pcap"
    with open(path, "wb") as fh:
        write_pcap(fh, [(3.0, frame(0))])
    assert bytes(rdpcap(str(path))[0]) == bytes(frame(0))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.binary(min_size=14, max_size=200)), max_size=8))
def test_round_trip_of_arbitrary_records(tmp_path_factory, recs):
    records = sorted((us / 1e6, data) for us, data in recs)
    path = tmp_path_factory.mktemp("p") / "r.pcap"
    write_pcap(path, records)
    back = rdpcap(str(path))
    assert [bytes(p) for p in back] == [d for _, d in records]
    assert [int(round(float(p.time) * 1e6)) for p in back] == [round(t * 1e6) for t, _ in records]


def test_a_spool_written_in_pieces_is_the_file_written_at_once(tmp_path):
    from ipvssim.packet.pcap import PcapSpool
    records = [(i * 0.001 + 0.9999996, frame(i)) for i in range(7)]
    spool = PcapSpool(tmp_path / "s.pcap")
    spool.spill()                                   # nothing yet: no file
    assert not spool.path.exists()
    for i, (t, f) in enumerate(records):
        spool.record(t, f)
        if i in (0, 4):
            spool.spill()
            assert spool.pending_bytes == 0         # written records leave memory
    spool.spill()
    spool.spill()                                   # a second spill with nothing adds nothing
    assert spool.path.read_bytes() == pcap_bytes(records)


def test_a_spool_truncates_to_the_snap_length_as_write_pcap_does(tmp_path):
    from ipvssim.packet.pcap import PcapSpool
    big = [(2.0, b"\x01" * (PCAP_SNAPLEN + 10))]
    spool = PcapSpool(tmp_path / "big.pcap")
    spool.record(*big[0])
    spool.spill()
    assert spool.path.read_bytes() == pcap_bytes(big)
