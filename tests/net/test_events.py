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
