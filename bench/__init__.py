"""Benchmarks of the central system (`scripts/bench`), built on the simulator's model.

`closed` (closed loop, hostile section, the server process's kinds floor and central),
`ha` (the integration inside a running Home Assistant core), `open_loop` (open loop,
start-up, database growth), `stall` (event loop stall finder); `__main__` runs them all.
"""
