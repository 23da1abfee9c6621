"""One run of a scenario: build the network, start the traffic, step the event loop."""
from __future__ import annotations

import gc
import os
import time
from heapq import heapify, heappop, heappush

from simpy.events import URGENT
from dataclasses import dataclass, field, replace

from ipvssim.net.app import ServerApp, tcp_client, udp_client
from ipvssim.net.context import SimContext
from ipvssim.net.events import Wake, call_later
from ipvssim.net.flow import Flow
from ipvssim.scenario.model import Scenario
from ipvssim.sim.traffic import TrafficGenerator

__all__ = ["Simulation", "RunResult", "with_mode"]

# How often (in events) the loop reports progress (and checks --max-events).
_CHUNK = 256
# Allocations between young-generation collections during a run (CPython's default is
# 700).  Every finished TCP connection leaves a reference cycle (socket <-> its timers'
# bound methods, the app's request object), so with the default the full collections
# that follow rescan every live object of a big run again and again: 100k connections
# ran ~1.4x slower per packet than 1k.  Raised for the run only, restored after.
_GC_GEN0_THRESHOLD = 100_000
# Priority of the horizon marker: after simpy's URGENT (0) and NORMAL (1), so every
# event at exactly the horizon still happens, as `until=` would have it.
_AFTER_ALL = 2


def _crash(ev) -> None:
    """A failed event nobody defused ends the run, as Environment.step() would raise it."""
    exc = type(ev._value)(*ev._value.args)
    exc.__cause__ = ev._value
    raise exc


def with_mode(scenario: Scenario, mode: str | None) -> Scenario:
    """The scenario with every real server of every service forced to `mode` (`--mode`)."""
    if mode is None:
        return scenario
    services = tuple(
        replace(svc, mode=mode, real_servers=tuple(replace(rs, mode=mode) for rs in svc.real_servers))
        for svc in scenario.services)
    return replace(scenario, services=services)


@dataclass
class RunResult:
    """What a run produced; renderers (report, summary, plots, trace) read only this."""
    scenario: Scenario
    mode: str                       # "dr" | ... | "as-configured"
    seed: int
    flows: list[Flow]
    ctx: SimContext
    hosts: dict
    segments: dict
    directors: dict                 # host name -> Director
    events: int = 0
    simulated_s: float = 0.0
    wall_s: float = 0.0
    stopped_by: str = "finished"    # "finished" | "duration" | "max-events"
    findings: list = field(default_factory=list)


def _note_path(pkt, host: str, reason: str | None) -> None:
    """Record a flow's request and reply paths from the packets that carried it.

    Request: the first packet the client sent that ended anywhere but the client
    (delivered to the server, or dropped on the way -- then the path shows where).
    Reply: the first TCP/UDP packet from the other side that reached the client,
    even if the client's stack refused it (a NAT reply from the RIP is reset there).
    """
    flow = pkt.flow
    if flow is None:
        return
    if pkt.origin == flow.client:
        if flow.request_path is None and host != flow.client:
            flow.request_path = list(pkt.path)
    elif flow.reply_path is None and host == flow.client:
        d = pkt.data
        if len(d) > 23 and d[12:14] == b"\x08\x00" and d[23] in (6, 17):
            flow.reply_path = list(pkt.path)


class Simulation:
    """A scenario turned into a network of simpy elements, ready to run once.

    Parameters
    ----------
    scenario : Scenario
        As loaded by `ipvssim.scenario.loader.load_scenario`.
    mode : str, optional
        Force every real server to this forwarding mode (the CLI's ``--mode``).
    seed, duration : optional overrides of the scenario's values.
    pcap : False, True (per-interface captures kept in memory, `ctx.observer.captures`)
        or a folder to write HOST-IFACE.pcap files into while the run goes on.
    trace : record hop-by-hop trace steps.
    max_events : stop (and say so) after this many simulation events.
    dataplane : "ipvs" or "iptables" for every director (the CLI's ``--dataplane``);
        None = each director host's ``dataplane:``.
    """

    def __init__(self, scenario: Scenario, mode: str | None = None, seed: int | None = None,
                 duration: float | None = None, pcap: bool | str | os.PathLike = False,
                 trace: bool = False, trace_flows: set[int] | None = None,
                 max_events: int | None = None, progress=None, dataplane: str | None = None):
        self.scenario = with_mode(scenario, mode)
        self.mode = mode or "as-configured"
        self.seed = scenario.seed if seed is None else seed
        self.duration = scenario.duration if duration is None else duration
        if max_events is not None and max_events < 0:
            raise ValueError(f"max_events must be 0 or more, not {max_events}")
        self.max_events = max_events
        self.progress = progress          # callable(simulated_now, horizon) or None
        self.dataplane = dataplane        # overrides every director host's `dataplane:`
        self.ctx = SimContext(self.seed, pcap=pcap, trace=trace, trace_flows=trace_flows)
        self.flows: list[Flow] = []
        self.segments: dict = {}
        self.hosts: dict = {}
        self.directors: dict = {}
        self.generators: list[TrafficGenerator] = []
        self._mark = None               # the loop's stop marker, while running (see _run)
        self._stop_entry = None         # its heap entry once all traffic has finished
        # Scenario events (weight changes, removals) belong to the run as much as its
        # traffic: it is not over before the last of them has happened.
        self._events_until = max((ev.at for ev in scenario.events), default=0.0)
        self._build()

    # -- construction -----------------------------------------------------------------
    def _build(self) -> None:
        from ipvssim.dataplane.iptables import IptablesDirector
        from ipvssim.ipvs.director import Director
        from ipvssim.net.host import Host
        from ipvssim.net.segment import Segment

        topo = self.scenario.topology
        for seg in topo.segments:
            self.segments[seg.name] = Segment.from_spec(self.ctx, seg)
        for hs in topo.hosts:
            self.hosts[hs.name] = Host.from_spec(self.ctx, hs, self.segments)
        for hs in topo.hosts:
            if hs.app is not None:
                ServerApp(self.hosts[hs.name], list(hs.app.listen))
        by_director: dict[str, list] = {}
        for svc in self.scenario.services:
            by_director.setdefault(svc.director, []).append(svc)
        for name, services in by_director.items():
            hs = topo.host(name)
            dataplane = self.dataplane or hs.dataplane
            cls = IptablesDirector if dataplane == "iptables" else Director
            self.directors[name] = cls(self.hosts[name], services, hs.ipvs, hs.cpu,
                                       self.scenario, self.ctx)
        for ev in self.scenario.events:
            self.directors_for_service(ev.service).schedule_event(ev)
        self.ctx.ledger.on_end.append(_note_path)
        self.ctx.ledger.on_empty = self._check_finished
        self.expected_flows = sum(t.connections for t in self.scenario.traffic)
        for spec in self.scenario.traffic:
            gen = TrafficGenerator(self.ctx, spec, self.hosts, self.flows, self._open_connection)
            self.generators.append(gen)

    def directors_for_service(self, service_name: str):
        for d in self.directors.values():
            if d.has_service(service_name):
                return d
        raise KeyError(service_name)

    def _open_connection(self, host, flow: Flow, spec) -> None:
        dst = int(spec.dst)
        if spec.protocol == "tcp":
            tcp_client(host, dst, spec.port, spec.request, spec.response, flow, self._flow_done,
                       requests=spec.requests, think=spec.think, sport=spec.source_port)
        else:
            udp_client(host, dst, spec.port, spec.request, spec.response, flow, self._flow_done,
                       sport=spec.source_port)

    def _flow_done(self, flow: Flow) -> None:
        self.finished += 1
        self._check_finished()

    def _check_finished(self, _ev=None) -> None:
        """Called when a flow ends, when the last packet in flight ends and at the last
        scenario event: once every flow has ended, no packet is in flight and the
        scenario's events have happened, the run is over -- right after the event being
        processed (a marker entry at this time, before anything else due now, stops the
        loop).  Without traffic there is nothing to finish: the run goes on to its
        horizon."""
        env = self.ctx.env
        if (self._mark is not None and self._stop_entry is None and self.expected_flows
                and env._now >= self._events_until and self._all_done()
                and not self.ctx.ledger.live):
            self._stop_entry = (env._now, URGENT, next(env._eid), self._mark)
            heappush(env._queue, self._stop_entry)

    # -- running ----------------------------------------------------------------------
    def run(self) -> RunResult:
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], _GC_GEN0_THRESHOLD), *thresholds[1:])
        try:
            return self._run()
        finally:
            gc.set_threshold(*thresholds)

    def _run(self) -> RunResult:
        env = self.ctx.env
        self.finished = 0
        # The loop stops at a marker entry on the heap: the horizon's, which sorts after
        # every event at that time (so the loop needs no "before the horizon?" test per
        # event), or the one _check_finished() pushes when the last flow and the last
        # packet in flight have ended.
        self._mark = mark = Wake()
        self._stop_entry = None
        for gen in self.generators:
            gen.start()
        if self.scenario.events:
            # after the scenario's own events at that time (scheduled when it was built)
            call_later(env, max(0.0, self._events_until - env._now), None, self._check_finished)
        wall0 = time.perf_counter()
        horizon = self.duration
        events = 0
        stopped_by = "duration"
        limit = self.max_events
        next_progress = 0
        queue = env._queue
        horizon_entry = (horizon, _AFTER_ALL, next(env._eid), mark)
        heappush(queue, horizon_entry)
        at_mark = False
        # Environment.step() inlined: per event it is one heappop and the callbacks,
        # with no method call, no peek() and no try/except around it.  Events are
        # stepped in chunks up to the next progress report, counted per chunk.
        while True:
            n = _CHUNK - events % _CHUNK
            if limit is not None:
                n = min(n, limit - events)
            done = n
            for i in range(n):
                when, _, _, ev = heappop(queue)
                if ev is mark:
                    done = i
                    at_mark = True
                    break
                env._now = when
                callbacks, ev.callbacks = ev.callbacks, None
                for callback in callbacks:
                    callback(ev)
                if not ev._ok and not hasattr(ev, "_defused"):
                    _crash(ev)
            events += done
            if done < n:
                if self._stop_entry is not None and (self.ctx.ledger.live or not self._all_done()):
                    # Something was sent after the last packet ended, in the same event
                    # (an ICMP echo is answered after the request is delivered): not over.
                    self._stop_entry = None
                    at_mark = False
                    continue
                break                   # at the horizon, or all traffic has finished
            if events == limit:         # exactly --max-events, never more
                stopped_by = "max-events"
                break
            if events >= next_progress:
                # captures written to files leave memory as the run goes on
                self.ctx.observer.spill()
                if self.progress is not None:
                    self.progress(env.now, horizon)
                next_progress = events + 20000
        if at_mark and self._stop_entry is not None:
            stopped_by = "finished"     # (the stop marker sorts before the horizon's)
        for entry in (horizon_entry, self._stop_entry):
            if entry is not None and entry in queue:
                queue.remove(entry)     # the markers must not outlive the run
        heapify(queue)
        self._mark = None
        if stopped_by == "duration" and self._all_done():
            stopped_by = "finished"
        if stopped_by == "duration" and env.peek() == float("inf"):
            stopped_by = "finished"
        # The clock stands where the last event happened (or at the horizon).
        simulated = min(env.now, horizon) if stopped_by != "duration" else horizon
        for f in self.flows:
            if f.status == "pending":
                f.reason = f.reason or "unfinished"
        self.ctx.ledger.check()
        self.ctx.observer.spill()
        return RunResult(self.scenario, self.mode, self.seed, self.flows, self.ctx, self.hosts,
                         self.segments, self.directors, events=events, simulated_s=simulated,
                         wall_s=time.perf_counter() - wall0, stopped_by=stopped_by)

    def _all_done(self) -> bool:
        return len(self.flows) == self.expected_flows and self.finished >= self.expected_flows
