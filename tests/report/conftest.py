"""Fixtures for the report tests (helpers live in report_fakes.py)."""
import pytest

from report_fakes import load_fixture_scenario, make_flow


@pytest.fixture
def scenario(tmp_path):
    return load_fixture_scenario(tmp_path)


@pytest.fixture
def dr_flows():
    """Four DR connections, 3 to rs1 and 1 to rs2, 0.1 s apart, 10/20/30/40 ms."""
    return [make_flow(0, "rs1", 0.0, 0.010), make_flow(1, "rs1", 0.1, 0.020),
            make_flow(2, "rs2", 0.2, 0.030), make_flow(3, "rs1", 0.3, 0.040)]
