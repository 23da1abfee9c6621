"""Helpers for the command-line tests: run the real console entry point, copy scenarios."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

__all__ = ["REPO", "SCENARIOS", "ipvssim", "read_report", "scenario_copy", "strip_wall"]

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
# A safety net against a hang, not a measurement: every command here takes seconds.
_TIMEOUT_S = 300


def ipvssim(*args: str, cwd: Path | None = None, script: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m ipvssim ARGS` (or the installed `ipvssim` script) and capture its output."""
    cmd = ["ipvssim"] if script else [sys.executable, "-m", "ipvssim"]
    return subprocess.run(cmd + [str(a) for a in args], cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=_TIMEOUT_S)


def read_report(out_dir: Path) -> dict:
    return json.loads((Path(out_dir) / "report.json").read_text())


def strip_wall(report: dict) -> dict:
    """The report without sim.wall_s, the one field allowed to differ between runs."""
    for run in report["runs"]:
        run["sim"].pop("wall_s")
    return report


def scenario_copy(name: str, dest: Path, edit=None) -> Path:
    """scenarios/NAME.yaml copied to dest (topology path made absolute), edited by `edit(doc)`."""
    src = SCENARIOS / f"{name}.yaml"
    doc = yaml.safe_load(src.read_text())
    if isinstance(doc.get("topology"), str):
        doc["topology"] = str((src.parent / doc["topology"]).resolve())
    if edit is not None:
        edit(doc)
    path = Path(dest) / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
