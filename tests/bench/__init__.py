"""Benchmarks, run against the local stack: ``make bench`` (``tests.bench.pipeline``: the
ranker and the archiver against per-event baselines) and ``make bench-gateway``
(``tests.bench.gateway``). Not tests: nothing here asserts on timings, and no module is
named ``test_*``, so pytest never collects them. Results and how to read them:
``docs/benchmarks.md``.
"""
