"""The simulator: synthetic players producing score events to ``game-score`` at a steady rate.

It gives ``make run`` a board to watch and benchmarks a workload (docs/services.md).
"""
