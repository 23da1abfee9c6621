"""Keep-alive request/response exchanges and fixed client ports, end to end."""
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

TWO_HOSTS = """
name: keepalive
duration: 200s
topology:
  segments: {lan: {subnet: 10.0.0.0/24, bandwidth: 1Mbps, delay: 1ms}}
  hosts:
    client: {interfaces: {eth0: {segment: lan, ip: 10.0.0.10}}}
    server:
      interfaces: {eth0: {segment: lan, ip: 10.0.0.20}}
      app: {listen: [tcp/80, udp/53]}
traffic:
"""


def run(traffic: str, **kw):
    scn = load_scenario_text(TWO_HOSTS + traffic, "t.yaml")
    return Simulation(scn, pcap=True, **kw).run()


def client_payload_starts(result):
    """(time, stream bytes) of each client segment that carries data, from the pcap."""
    out = []
    for t, frame in result.ctx.observer.captures[("client", "eth0")]:
        if frame[23] == 6 and frame[26:30] == bytes([10, 0, 0, 10]):
            l4 = 14 + (frame[14] & 15) * 4
            pay = l4 + (frame[l4 + 12] >> 4) * 4
            if len(frame) > pay:
                out.append((round(t, 6), bytes(frame[pay:pay + 8])))
    return out


def test_three_requests_on_one_connection_with_think_time():
    res = run("  - {from: client, to: '10.0.0.20:80', connections: 1, request: 100B, "
              "response: 3000B, requests: 3, think: 10s}\n")
    (flow,) = res.flows
    assert flow.status == "succeeded"
    assert flow.received == 9000
    # one handshake (one SYN), three requests, each header (request len, response len)
    # on the wire at the start of its request
    syns = [f for _t, f in res.ctx.observer.captures[("client", "eth0")]
            if f[23] == 6 and f[26:30] == bytes([10, 0, 0, 10]) and f[47] & 0x02]
    assert len(syns) == 1
    starts = client_payload_starts(res)
    assert [b for _t, b in starts] == [bytes.fromhex("00000064 00000bb8")] * 3
    # the second and third request leave 10 s after the previous response completed
    gaps = [b - a for (a, _), (b, _) in zip(starts, starts[1:])]
    assert all(10.0 < g < 10.2 for g in gaps), gaps


def test_fixed_source_port_is_used_and_a_busy_port_fails():
    # The second connection opens while the first still holds port 40000.
    res = run("  - {from: client, to: '10.0.0.20:80', connections: 2, rate: 1000/s, "
              "request: 100B, response: 50KB, source_port: 40000}\n")
    first, second = res.flows
    assert first.status == "succeeded"
    assert (second.status, second.reason) == ("failed", "port-in-use")
    ports = {int.from_bytes(f[34:36], "big") for _t, f in res.ctx.observer.captures[("client", "eth0")]
             if f[23] == 6 and f[26:30] == bytes([10, 0, 0, 10])}
    assert ports == {40000}


def test_udp_fixed_source_port_reused_by_later_flows():
    res = run("  - {from: client, to: '10.0.0.20:53', protocol: udp, connections: 3, rate: 1/s, "
              "request: 60B, response: 100B, source_port: 5353}\n")
    assert [f.status for f in res.flows] == ["succeeded"] * 3
    ports = {int.from_bytes(f[34:36], "big") for _t, f in res.ctx.observer.captures[("client", "eth0")]
             if f[23] == 17 and f[26:30] == bytes([10, 0, 0, 10])}
    assert ports == {5353}
