"""FarEvents must step events in exactly the order (and number) the main heap would."""
import itertools

from hypothesis import given, settings, strategies as st

import simpy

from ipvssim.net.events import FAR_DELAY, FarEvents, call_later

# A plan: at each step, an event schedules some children (delay, far?) -- delays drawn
# from a few values so that equal times (ties broken by scheduling order) are common.
DELAYS = [0.0, 0.01, FAR_DELAY, 0.25, 0.5, 1.0, 60.0]
plans = st.lists(st.lists(st.tuples(st.sampled_from(DELAYS), st.booleans()), max_size=3),
                 min_size=1, max_size=60)


def run(plan, use_far: bool):
    env = simpy.Environment()
    far = FarEvents(env)
    order = []
    steps = iter(plan)
    labels = itertools.count()

    def fire(ev):
        order.append((env.now, ev._value))
        for delay, wants_far in next(steps, []):
            label = next(labels)            # numbered as scheduled: a different order shows
            if use_far and wants_far and delay >= FAR_DELAY:
                far.call_later(delay, (label, delay), fire)
            else:
                call_later(env, delay, (label, delay), fire)

    call_later(env, 0.0, "start", fire)
    env.run()
    return order, far


@settings(max_examples=300, deadline=None)
@given(plans)
def test_far_events_run_in_the_order_the_main_heap_gives(plan):
    expected, _ = run(plan, use_far=False)
    got, far = run(plan, use_far=True)
    assert got == expected
    assert len(far) == 0 and not far._proxied


def test_far_events_keep_the_main_heap_small():
    env = simpy.Environment()
    far = FarEvents(env)
    fired = []
    for i in range(1000):
        far.call_later(60.0 + i * 1e-3, i, lambda ev: fired.append((env.now, ev._value)))
    assert len(env._queue) == 1 and len(far) == 1000      # one proxy for the earliest
    env.run()
    assert [v for _, v in fired] == list(range(1000))
    assert fired[0][0] == 60.0 and fired[-1][0] == 60.0 + 999 * 1e-3


def test_far_events_may_share_one_callbacks_list():
    # TCP's timers give every event the same list (the loops only iterate over it).
    env = simpy.Environment()
    far = FarEvents(env)
    fired = []
    callbacks = [lambda ev: fired.append((env.now, ev._value))]
    for i in (3, 1, 2):
        far.schedule(i * 1.0, i, callbacks)
    env.run()
    assert fired == [(1.0, 1), (2.0, 2), (3.0, 3)]
    assert len(callbacks) == 1


def test_timer_rearmed_earlier_or_later_fires_once_at_its_deadline():
    from ipvssim.net.tcp import Timer
    for use_far in (False, True):
        env = simpy.Environment()
        far = FarEvents(env) if use_far else None
        fired = []
        t = Timer(env, lambda owner: fired.append((env.now, owner)), "sock", far)
        t.set(1.0)
        t.set(0.5)                  # earlier: a new event, the first one goes stale
        env.run(until=0.25)
        t.set(0.5)                  # later (0.75): the pending event re-schedules itself
        env.run(until=10)
        assert fired == [(0.75, "sock")] and not t.active
        t.set(2.0)
        t.cancel()
        env.run(until=20)
        assert fired == [(0.75, "sock")]
