"""Build a network from a scenario, run it, collect results."""
from ipvssim.sim.simulation import Simulation, RunResult

__all__ = ["Simulation", "RunResult"]
