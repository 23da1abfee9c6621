import pytest
from hypothesis import given, strategies as st

from ipvssim.units import parse_per_second, parse_rate, parse_size, parse_time


@pytest.mark.parametrize("text, seconds", [
    ("10us", 1e-5), ("10µs", 1e-5), ("1.5ms", 0.0015), ("2s", 2.0), ("2", 2.0),
    ("250ns", 2.5e-7), ("0.5", 0.5), ("1min", 60.0), ("1h", 3600.0), (" 3 s ", 3.0),
    (7, 7.0), (0.25, 0.25), ("1e-3", 0.001), (".5s", 0.5),
])
def test_parse_time_reads_the_contract_units_exactly(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text, bps", [
    ("1Gbps", 1e9), ("100Mbps", 1e8), ("64kbps", 64e3), ("1.5Gbit/s", 1.5e9),
    ("100mbps", 1e8), ("1000", 1000.0), (1e6, 1e6), ("1MB/s", 8e6),
])
def test_parse_rate_returns_bits_per_second(text, bps):
    assert parse_rate(text) == bps


@pytest.mark.parametrize("text, size", [
    ("300B", 300), ("20KB", 20_000), ("20kB", 20_000), ("1KiB", 1024), ("1MB", 1_000_000),
    ("1MiB", 1_048_576), ("1GiB", 1 << 30), ("1500", 1500), (64, 64), ("1.5KB", 1500),
])
def test_parse_size_distinguishes_decimal_and_binary_prefixes(text, size):
    assert parse_size(text) == size
    assert isinstance(parse_size(text), int)


@pytest.mark.parametrize("text, rate", [("50/s", 50.0), ("50", 50.0), (50, 50.0),
                                         ("120/min", 2.0), ("2/ms", 2000.0)])
def test_parse_per_second(text, rate):
    assert parse_per_second(text) == pytest.approx(rate, rel=1e-12)


def test_a_word_instead_of_a_time_says_what_was_expected():
    with pytest.raises(ValueError) as e:
        parse_time("fast")
    assert str(e.value) == "expected a number of seconds like 10ms, got 'fast'"


def test_a_bare_m_is_refused_with_a_hint_because_it_is_ambiguous():
    with pytest.raises(ValueError, match="write 'min' for minutes or 'ms' for milliseconds"):
        parse_time("1m")


def test_lower_case_b_in_a_size_is_refused_as_bits():
    with pytest.raises(ValueError, match="a lower-case b means bits"):
        parse_size("20kb")


def test_unknown_unit_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown unit 'furlongs' in '3furlongs'.*ms"):
        parse_time("3furlongs")


@pytest.mark.parametrize("bad", ["-1s", "nan", "inf", True, None, "", "1.5.2s", [1]])
def test_negative_non_finite_and_non_numbers_are_refused(bad):
    with pytest.raises(ValueError):
        parse_time(bad)


def test_fractional_bytes_are_refused():
    with pytest.raises(ValueError, match="not a whole number of bytes"):
        parse_size("1.5B")


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_a_bare_number_of_seconds_round_trips_exactly(x):
    assert parse_time(repr(x)) == x


@given(st.integers(min_value=0, max_value=10 ** 6))
def test_binary_and_decimal_size_prefixes(n):
    assert parse_size(f"{n}KiB") == n * 1024
    assert parse_size(f"{n}KB") == n * 1000
    assert parse_time(f"{n}ms") == pytest.approx(n / 1000, rel=1e-15)
