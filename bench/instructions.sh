#!/bin/sh
# Instructions per packet-hop of a bench scenario, counted by valgrind: unlike wall time
# this is the same from run to run (within ~0.2%), so it can tell a 1% change on a
# noisy machine.  The difference of two runs (300 and 600 connections) leaves out
# start-up and imports.
#
#   bench/instructions.sh [MODE]        (dr, tun, nat, fullnat; default dr; ~20 s)
#
# Needs valgrind (apt-get install valgrind).
set -e
mode=${1:-dr}
cd "$(dirname "$0")/.."
py=$(python3 -c 'import sys; print(sys.executable)')
count() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$py" -c "
import sys; sys.path[:0] = ['bench', '.']
from bench import lan_scenario
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation
r = Simulation(load_scenario_text(lan_scenario('$mode', connections=$1), '<bench>')).run()
print('HOPS', r.ctx.hops)" 2>&1 | awk '/^HOPS/ {h = $2} /I +refs/ {gsub(",", "", $4); i = $4} END {print h, i}'
}
set -- $(count 300) $(count 600)
python3 -c "print('$mode: %d instructions per packet-hop' % round(($4 - $2) / ($3 - $1)))"
