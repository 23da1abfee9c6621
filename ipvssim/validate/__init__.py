"""Static validator: finds what would break a scenario before simulating it.

>>> from ipvssim.validate import validate, format_findings   # doctest: +SKIP
>>> print(format_findings(validate(scenario, mode="dr")))    # doctest: +SKIP
"""
from ipvssim.validate.engine import validate
from ipvssim.validate.findings import SEVERITIES, Finding, format_findings
from ipvssim.validate.rules import RULES, Rule

__all__ = ["validate", "Finding", "format_findings", "SEVERITIES", "RULES", "Rule"]
