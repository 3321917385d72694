"""The simulator: synthetic players scoring at a steady rate (the original game score service).

It produces ``ScoreEvent``s to ``game-score`` so that ``make run`` has a board to watch and
benchmarks have a workload. Some players are far more active than others, so the top of
the board keeps moving.
"""
