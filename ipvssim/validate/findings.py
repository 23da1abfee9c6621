"""Finding: one problem the validator found, and its terminal rendering."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

__all__ = ["Finding", "Severity", "SEVERITIES", "format_findings"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """A rule that fired: what is wrong, where it was written, why it breaks, how to fix it.

    `where` is the YAML path (``topology.hosts.rs2.sysctl``,
    ``services[0].real_servers[1]``); `line` and `file` point at the source when
    the scenario came from a file.
    """
    rule: str
    severity: Severity
    where: str
    line: int | None
    file: str | None
    message: str
    why: str
    fix: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "where": self.where,
                "line": self.line, "message": self.message, "why": self.why, "fix": self.fix}

    @property
    def location(self) -> str:
        """``file:line`` (or what is known of it) for humans."""
        if self.line is None:
            return self.file or ""
        return f"{self.file or '?'}:{self.line}"


def format_findings(findings: Iterable[Finding]) -> str:
    """Render findings for the terminal, errors first, then warnings, then infos.

    >>> f = Finding("WEIGHT-ALL-ZERO", "warning", "services[0]", 12, "scn.yaml",
    ...             "every real server of web has weight 0", "no server can be picked",
    ...             "give one real server a weight > 0")
    >>> print(format_findings([f]))
    warning WEIGHT-ALL-ZERO  at services[0] (scn.yaml:12)
      every real server of web has weight 0
      why: no server can be picked
      fix: give one real server a weight > 0
    <BLANKLINE>
    0 errors, 1 warning, 0 infos
    """
    items = list(findings)
    if not items:
        return "no findings"
    blocks = []
    for sev in SEVERITIES:
        for f in items:
            if f.severity != sev:
                continue
            loc = f" ({f.location})" if f.location else ""
            blocks.append(f"{f.severity} {f.rule}  at {f.where}{loc}\n"
                          f"  {f.message}\n  why: {f.why}\n  fix: {f.fix}")
    counts = {s: sum(1 for f in items if f.severity == s) for s in SEVERITIES}
    summary = ", ".join(f"{n} {s}{'' if n == 1 else 's'}" for s, n in counts.items())
    return "\n".join(blocks) + "\n\n" + summary
