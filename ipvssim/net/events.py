"""Events without simpy's Event machinery: `Wake`, `call_later`, and `FarEvents`.

The simulator schedules a few events per packet hop; these are the cheapest
forms simpy's loop (and ipvssim's inlined copy of it) will step, with the same
(time, priority, id) keys ``env.timeout`` would give, so the order of events --
and every result -- is what the simpy way would produce.
"""
from __future__ import annotations

from heapq import heappop, heappush

from simpy.events import NORMAL

__all__ = ["Wake", "call_later", "FarEvents", "FAR_DELAY"]

# s: timers at least this far ahead are kept off the main heap.  Every TCP timer is
# (delayed ACK 40 ms, RTO >= 200 ms, TIME_WAIT 60 s); what a hop schedules is not
# (link and CPU delays: micro- to milliseconds).
FAR_DELAY = 0.01


class Wake:
    """The cheapest event simpy will step: a value and one callback, already triggered.

    `simpy.Environment.step` needs only ``callbacks``, ``_ok`` and ``_value``; a
    Timeout also runs Event.__init__ and Environment.schedule (about half the cost
    of a hop's event).  Scheduling goes straight onto the environment's heap with
    the same (time, priority, id) key Timeout uses, so the order of events -- and
    so every result -- is the same as with ``env.timeout``.
    """

    __slots__ = ("callbacks", "_value")
    _ok = True
    # No __init__: the two attributes are set where one is made (a Python-level
    # __init__ call would be half the cost of making it, once per hop).


def call_later(env, delay: float, value, callback) -> Wake:
    """``env.timeout(delay, value).callbacks.append(callback)``, without the Timeout."""
    ev = Wake()
    ev._value = value
    ev.callbacks = [callback]
    # The time is now + delay exactly as Environment.schedule computes it.
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), ev))
    return ev


class FarEvents:
    """Events scheduled far ahead -- TCP's delayed-ACK, retransmission and TIME_WAIT
    timers -- kept on a heap of their own, so that simpy's heap holds little more than
    the frames in flight.

    Why: a busy run has thousands of such timers pending (most re-armed or made
    stale before they are due) and every hop's push and pop on the main heap would
    walk past them, on memory scattered over thousands of entries.

    How the order stays exact: an event gets its (time, priority, id) key when it is
    scheduled, as on the main heap.  The main heap holds one *proxy* per far event
    that is, or has been, the earliest here, keyed (time, priority, id - 0.5): it
    sorts just before where the event itself would, and nothing can sort between.
    When a proxy is stepped it runs the earliest far event -- the one it stands
    for -- and makes sure the new earliest has a proxy.  One proxy is stepped per far
    event, so event counts are unchanged too.
    """

    def __init__(self, env):
        self.env = env
        self._heap: list[tuple] = []
        self._proxied: set[int] = set()       # ids of far events with a proxy on the main heap
        # One callbacks list for every proxy: the event loops only iterate over an event's
        # callbacks (and drop the reference), so a list need not be made per proxy.
        self._step_callbacks = [self._step]

    def __len__(self) -> int:
        return len(self._heap)

    def call_later(self, delay: float, value, callback) -> Wake:
        """As `call_later`, for an event at least `FAR_DELAY` ahead."""
        return self.schedule(delay, value, [callback])

    def schedule(self, delay: float, value, callbacks: list) -> Wake:
        """As `call_later` with the event's `callbacks` list given: a caller that schedules
        many events with the same callbacks (TCP's timers) can make the list once and share
        it, as the event loops only iterate over an event's callbacks, never change them --
        so nobody may append to the callbacks of an event scheduled this way."""
        env = self.env
        ev = Wake()
        ev._value = value
        ev.callbacks = callbacks
        when = env._now + delay
        eid = next(env._eid)
        heap = self._heap
        heappush(heap, (when, NORMAL, eid, ev))
        if heap[0][2] == eid:
            self._proxy(when, eid)            # the new earliest
        return ev

    def _proxy(self, when: float, eid: int) -> None:
        self._proxied.add(eid)
        proxy = Wake()
        proxy._value = None
        proxy.callbacks = self._step_callbacks
        heappush(self.env._queue, (when, NORMAL, eid - 0.5, proxy))

    def _step(self, _proxy) -> None:
        heap = self._heap
        _, _, eid, ev = heappop(heap)
        self._proxied.discard(eid)
        if heap and heap[0][2] not in self._proxied:
            self._proxy(heap[0][0], heap[0][2])
        callbacks, ev.callbacks = ev.callbacks, None
        for callback in callbacks:
            callback(ev)
