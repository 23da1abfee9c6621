"""Suite-wide invariants.

Every SimContext built during a test is checked at teardown: every packet
created was delivered, dropped with a reason, or is still in flight -- and when
the event queue is empty nothing can still be in flight.
"""
import pytest

from ipvssim.net import context as _context


@pytest.fixture(autouse=True)
def conservation_invariant(monkeypatch):
    made = []
    original_init = _context.SimContext.__init__

    def tracking_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(_context.SimContext, "__init__", tracking_init)
    yield made
    for ctx in made:
        ctx.ledger.check()
        if ctx.env.peek() == float("inf"):
            # Nothing left to happen: a packet still "in flight" would be one that
            # some element forgot without recording a drop.
            assert not ctx.ledger.live, (
                f"packets lost silently (no event can ever end them): {list(ctx.ledger.live.values())[:5]}")
