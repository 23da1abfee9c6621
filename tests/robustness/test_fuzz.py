"""Fuzzing the loader with mutated copies of the shipped scenarios.

Any input must end in one of two ways: a `Scenario` whose numbers are usable, or a
`ScenarioError` whose every problem points at a file and line with a message.  Any other
exception is a loader bug.  Bounded and derandomized so that CI runs the same examples.
"""
from __future__ import annotations

import math
import os
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipvssim.cli import main
from ipvssim.scenario.errors import ScenarioError
from ipvssim.scenario.loader import MAX_CONNECTIONS, load_scenario
from ipvssim.scenario.model import Scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_FILES = sorted((ROOT / "scenarios").glob("*.yaml"))

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_TEXT = settings(FUZZ, max_examples=40)
FUZZ_CLI = settings(FUZZ, max_examples=40)

# Values that have broken parsers before: wrong types, extremes, non-finite floats.
NASTY = [None, True, False, 0, -1, 1, 2 ** 63, -(2 ** 63), 10 ** 400, 1e308, -1e308, 1e-320,
         float("nan"), float("inf"), float("-inf"), 0.5, -0.5, "", " ", "x", "-5s", "1e400",
         "1e400Gbps", "nan", "inf", "0/s", "-1", "65536", "99999999999", "10.0.0.300",
         "10.0.0.0/33", "::1", "tcp/0", "a:b", "1.2.3.4:99999", "default", "lo", "all",
         "none", ">= -1", "100%", "150%", "\u00b5s", "1m", "20kb", "0x10", "1_000",
         [], {}, [None], {"x": None}, [1, [2, [3]]], {"": ""}]


def _document(scenario_file: Path) -> dict[str, Any]:
    """The scenario as plain data, its topology inlined (a wrapper `topology:` unwrapped)."""
    doc = yaml.safe_load(scenario_file.read_text())
    topo = doc.get("topology")
    while isinstance(topo, str):
        base = scenario_file.parent
        topo_file = (base / topo).resolve()
        topo = yaml.safe_load(topo_file.read_text())
        if isinstance(topo, dict) and set(topo) <= {"topology", "name", "description"} \
                and "topology" in topo:
            topo = topo["topology"]
            scenario_file = topo_file
    doc["topology"] = topo
    return doc


DOCUMENTS = [_document(f) for f in SCENARIO_FILES]


def _paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """Every position in the tree (the root is the empty path)."""
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, prefix + (i,))
    return out


def _names(tree: Any) -> list[str]:
    """Strings used in the document (names, addresses, ...) to swap one for another."""
    found: set[str] = set()

    def walk(t: Any) -> None:
        if isinstance(t, dict):
            for k, v in t.items():
                if isinstance(k, str):
                    found.add(k)
                walk(v)
        elif isinstance(t, list):
            for v in t:
                walk(v)
        elif isinstance(t, str):
            found.add(t)
    walk(tree)
    return sorted(found)


def _get(tree: Any, path: tuple) -> Any:
    for step in path:
        tree = tree[step]
    return tree


def _set(tree: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(tree, path[:-1])[path[-1]] = value
    return tree


def _name_or_text(doc: Any) -> st.SearchStrategy[str]:
    """A string the document already uses (a name that exists, in the wrong place) or noise."""
    names = _names(doc)
    return st.sampled_from(names) | st.text(max_size=8) if names else st.text(max_size=8)


scalars = st.one_of(
    st.sampled_from(NASTY),
    st.integers(min_value=-10 ** 12, max_value=10 ** 12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """One shipped scenario with one to four random mutations."""
    doc = yaml.safe_load(yaml.safe_dump(draw(st.sampled_from(DOCUMENTS))))  # deep copy
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        target = _get(doc, path)
        kind = draw(st.sampled_from(["drop", "retype", "swap-name", "duplicate", "unknown-key",
                                     "truncate", "extreme", "rename-key"]))
        if kind == "drop" and path:
            parent = _get(doc, path[:-1])
            del parent[path[-1]]
        elif kind == "retype":
            value = draw(st.one_of(scalars, st.lists(scalars, max_size=3),
                                   st.dictionaries(st.text(max_size=6), scalars, max_size=3)))
            doc = _set(doc, path, value)
        elif kind == "swap-name":
            doc = _set(doc, path, draw(_name_or_text(doc)))
        elif kind == "duplicate" and isinstance(target, list) and target:
            target.insert(draw(st.integers(0, len(target))),
                          yaml.safe_load(yaml.safe_dump(draw(st.sampled_from(target)))))
        elif kind == "unknown-key" and isinstance(target, dict):
            target[draw(st.sampled_from(["colour", "weigth", "segmnt", "ip ", "", "1"]))] = \
                draw(scalars)
        elif kind == "truncate" and isinstance(target, list):
            del target[draw(st.integers(0, len(target))):]
        elif kind == "rename-key" and isinstance(target, dict) and target:
            # A host, segment or interface renamed: every reference to it now dangles.
            old_key = draw(st.sampled_from(sorted(target, key=str)))
            new_key = draw(_name_or_text(doc))
            target[new_key] = target.pop(old_key)
        elif kind == "extreme":
            doc = _set(doc, path, draw(st.sampled_from(
                [10 ** 400, -(10 ** 30), -1, 0, float("nan"), float("inf"), float("-inf"),
                 1e308, 2 ** 64, "1e400s", "-3ms", "nan/s", "1e309Mbps", "1e-400s"])))
    return doc


def _write(doc: Any, folder: str, separate_topology: bool) -> str:
    """Dump the document; optionally move its topology to a file of its own."""
    if separate_topology and isinstance(doc, dict) and isinstance(doc.get("topology"), dict):
        doc = dict(doc)
        with open(os.path.join(folder, "topo.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(doc["topology"], f, sort_keys=False)
        doc["topology"] = "topo.yaml"
    path = os.path.join(folder, "scenario.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False, allow_unicode=True)
    return path


def _assert_usable(scn: Scenario) -> None:
    """The semantic bounds every loaded scenario must satisfy (the simulator relies on them)."""
    assert isinstance(scn.seed, int) and scn.seed >= 0
    assert math.isfinite(scn.duration) and scn.duration > 0
    for seg in scn.topology.segments:
        assert math.isfinite(seg.bandwidth_bps) and seg.bandwidth_bps > 0, seg
        assert math.isfinite(seg.delay_s) and seg.delay_s >= 0, seg
        assert 0 <= seg.loss < 1, seg
        assert seg.queue >= 1 and 68 <= seg.mtu <= 65535, seg
    for svc in scn.services:
        assert 0 <= svc.port <= 65535 and 0 <= svc.persistence <= 86400 * 31, svc
        for rs in svc.real_servers:
            assert 0 <= rs.weight <= 65535 and 0 <= rs.port <= 65535, rs
    for t in scn.traffic:
        assert 1 <= t.connections <= MAX_CONNECTIONS, t
        assert math.isfinite(t.rate) and t.rate >= 0, t
        assert math.isfinite(t.start) and t.start >= 0, t
        assert 1 <= t.port <= 65535, t
    for ev in scn.events:
        assert math.isfinite(ev.at) and ev.at >= 0, ev


def _assert_problems_located(err: ScenarioError, files: set[str]) -> None:
    assert err.problems
    for p in err.problems:
        assert p.file in files, p
        assert isinstance(p.line, int) and p.line >= 0, p
        assert isinstance(p.message, str) and p.message.strip(), p


@st.composite
def garbled_text(draw: st.DrawFn) -> str:
    """A shipped scenario's YAML with lines deleted, duplicated, re-indented or spliced."""
    lines = yaml.safe_dump(draw(st.sampled_from(DOCUMENTS)), sort_keys=False).splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "splice",
                                     "truncate"]))
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "\t"])) + lines[i]
        elif kind == "dedent":
            lines[i] = lines[i].lstrip()
        elif kind == "splice":
            at = draw(st.integers(0, len(lines[i])))
            noise = draw(st.sampled_from([":", "- ", "{", "]", "&a ", "*a", "!!binary ", "'",
                                          '"', "#", "? ", "|", "%YAML 1.1", "\x00", "<<: "])
                         | st.text(max_size=4))
            lines[i] = lines[i][:at] + noise + lines[i][at:]
        elif kind == "truncate":
            del lines[i + 1:]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_the_shipped_scenarios_load_before_mutation():
    assert SCENARIO_FILES, "no scenarios/*.yaml to fuzz"
    for f in SCENARIO_FILES:
        _assert_usable(load_scenario(f))


@FUZZ
@given(doc=mutated(), separate_topology=st.booleans())
def test_mutated_scenarios_load_or_report_located_problems(fuzz_dir, doc, separate_topology):
    folder = tempfile.mkdtemp(dir=fuzz_dir)
    path = _write(doc, folder, separate_topology)
    try:
        scn = load_scenario(path)
    except ScenarioError as err:
        _assert_problems_located(err, {path, os.path.join(folder, "topo.yaml")})
    else:
        _assert_usable(scn)


@FUZZ_TEXT
@given(text=garbled_text())
def test_garbled_yaml_text_reports_located_problems(fuzz_dir, text):
    path = os.path.join(tempfile.mkdtemp(dir=fuzz_dir), "scenario.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    try:
        scn = load_scenario(path)
    except ScenarioError as err:
        _assert_problems_located(err, {path})
    else:
        _assert_usable(scn)


@FUZZ_CLI
@given(doc=mutated())
def test_mutated_scenarios_through_validate_never_trace_back(fuzz_dir, doc):
    path = _write(doc, tempfile.mkdtemp(dir=fuzz_dir), separate_topology=False)
    result = CliRunner().invoke(main, ["validate", path])
    # sys.exit(0) leaves no exception on the result; any other ending is a SystemExit.
    crash = None if result.exception is None or isinstance(result.exception, SystemExit) \
        else "".join(traceback.format_exception(*result.exc_info))
    assert crash is None, crash
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
