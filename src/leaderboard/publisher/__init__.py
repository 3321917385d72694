"""The publisher: turns change notices into top-N snapshots, at a bounded rate.

Design (coalescing, publish order, the cache): docs/services.md, "Publisher".
"""
