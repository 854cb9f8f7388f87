"""The shared Slack rate limiter, on a fake monotonic clock."""

from __future__ import annotations

import pytest

from app.slack.pacing import CHANNEL_BURST, Pacer, tier_rate


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


def test_post_message_allows_a_small_burst_then_one_a_second_per_channel(
    clock: FakeMonotonic,
) -> None:
    """chat.postMessage: a burst of CHANNEL_BURST in one channel, then about one a second."""
    pacer = Pacer(clock)
    assert [pacer.acquire("chat.postMessage", "C1") for _ in range(CHANNEL_BURST)] == [0.0] * 4
    assert pacer.acquire("chat.postMessage", "C1") == pytest.approx(1.0)
    clock.now += 1.0
    assert pacer.acquire("chat.postMessage", "C1") == 0.0  # the reserved slot is taken
    assert pacer.acquire("chat.postMessage", "C1") == pytest.approx(1.0)


def test_other_channels_are_not_held_back_by_a_busy_one(clock: FakeMonotonic) -> None:
    """Pacing one channel leaves another channel's posts free to go."""
    pacer = Pacer(clock)
    for _ in range(CHANNEL_BURST):
        pacer.acquire("chat.postMessage", "C1")
    assert pacer.acquire("chat.postMessage", "C1") > 0
    assert pacer.acquire("chat.postMessage", "C2") == 0.0


def test_waiting_callers_get_successive_slots_not_the_same_instant(clock: FakeMonotonic) -> None:
    """Each paced caller reserves its own slot: 1 s, 2 s, 3 s later, not all at 1 s."""
    pacer = Pacer(clock)
    for _ in range(CHANNEL_BURST):
        pacer.acquire("chat.postMessage", "C1")
    waits = [pacer.acquire("chat.postMessage", "C1") for _ in range(3)]
    assert waits == pytest.approx([1.0, 2.0, 3.0])
    clock.now += 2.0
    assert pacer.acquire("chat.postMessage", "C1") == 0.0  # slot at +1 s, due
    assert pacer.acquire("chat.postMessage", "C1") == 0.0  # slot at +2 s, due
    assert pacer.acquire("chat.postMessage", "C1") == pytest.approx(2.0)  # +3 s is held: +4 s


def test_retry_after_pauses_exactly_that_method_and_channel(clock: FakeMonotonic) -> None:
    """A 429's Retry-After holds that channel's posts for exactly its duration, then one goes."""
    pacer = Pacer(clock)
    pacer.pause("chat.postMessage", "C1", 1.5)
    assert pacer.acquire("chat.postMessage", "C1") == pytest.approx(1.5)
    assert pacer.acquire("chat.postMessage", "C2") == 0.0
    assert pacer.acquire("chat.update", "C1") == 0.0
    clock.now += 1.5
    assert pacer.acquire("chat.postMessage", "C1") == 0.0  # the slot reserved at the pause's end


def test_a_pause_voids_earlier_reservations(clock: FakeMonotonic) -> None:
    """A slot reserved before the 429 is not used inside the Retry-After window."""
    pacer = Pacer(clock)
    for _ in range(CHANNEL_BURST):
        pacer.acquire("chat.postMessage", "C1")
    assert pacer.acquire("chat.postMessage", "C1") == pytest.approx(1.0)
    pacer.pause("chat.postMessage", "C1", 3.0)
    clock.now += 1.0
    assert pacer.acquire("chat.postMessage", "C1") == pytest.approx(2.0)


def test_no_burst_right_after_a_pause(clock: FakeMonotonic) -> None:
    """After Retry-After ends one call goes, then the steady pace, not a burst into a new 429."""
    pacer = Pacer(clock)
    pacer.pause("chat.postMessage", "C1", 1.0)
    clock.now += 1.0
    assert pacer.acquire("chat.postMessage", "C1") == 0.0
    assert pacer.acquire("chat.postMessage", "C1") == pytest.approx(1.0)


def test_workspace_methods_follow_their_tier(clock: FakeMonotonic) -> None:
    """conversations.open (Tier 3: 50 a minute) allows a burst of 8, then 1.2 s apart."""
    pacer = Pacer(clock)
    rate = tier_rate(3)
    assert rate.burst == 8
    assert all(pacer.acquire("conversations.open") == 0.0 for _ in range(rate.burst))
    assert pacer.acquire("conversations.open") == pytest.approx(60 / 50)


def test_an_unclaimed_slot_expires(clock: FakeMonotonic) -> None:
    """A reserved slot nobody came back for is dropped instead of bursting later."""
    pacer = Pacer(clock)
    for _ in range(CHANNEL_BURST):
        pacer.acquire("chat.postMessage", "C1")
    pacer.acquire("chat.postMessage", "C1")  # reserved at +1 s, never used
    clock.now += 60.0
    assert [pacer.acquire("chat.postMessage", "C1") for _ in range(CHANNEL_BURST)] == [0.0] * 4
    assert pacer.acquire("chat.postMessage", "C1") > 0


def test_void_reservations_do_not_delay_the_calls_after_a_pause(clock: FakeMonotonic) -> None:
    """Slots reserved before a 429 are void: after Retry-After the channel restarts at once."""
    pacer = Pacer(clock)
    for _ in range(CHANNEL_BURST):
        pacer.acquire("chat.postMessage", "C1")
    assert [pacer.acquire("chat.postMessage", "C1") for _ in range(6)][-1] == pytest.approx(6.0)
    pacer.pause("chat.postMessage", "C1", 1.0)
    clock.now += 1.0
    assert pacer.acquire("chat.postMessage", "C1") == 0.0
    assert pacer.acquire("chat.postMessage", "C1") == pytest.approx(1.0)


def test_callers_waiting_out_a_pause_get_successive_slots_after_it(clock: FakeMonotonic) -> None:
    """Callers that come during a Retry-After get one slot each after it, not all its end."""
    pacer = Pacer(clock)
    pacer.pause("chat.postMessage", "C1", 1.0)
    waits = [pacer.acquire("chat.postMessage", "C1") for _ in range(3)]
    assert waits == [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(3.0)]
    clock.now += 1.0
    assert pacer.acquire("chat.postMessage", "C1") == 0.0  # the first reserved slot
    assert pacer.acquire("chat.postMessage", "C1") > 0  # the others' slots are still ahead
