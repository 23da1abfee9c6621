"""ipvssim: a packet-level discrete-event simulator of Linux IPVS forwarding modes.

The entry points (`load_scenario`, `validate_scenario`, `simulate`, `build_report`,
`Simulation`)
live in `ipvssim.api` and are imported on first use, so that `import ipvssim`
stays cheap for the command line.
"""
__version__ = "0.1.0"

__all__ = ["load_scenario", "load_scenario_text", "validate_scenario", "simulate", "build_report", "Simulation",
           "RunResult", "__version__"]


def __getattr__(name):
    if name in __all__:
        from ipvssim import api
        return getattr(api, name)
    raise AttributeError(f"module 'ipvssim' has no attribute {name!r}")
