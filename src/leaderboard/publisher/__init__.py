"""The publisher: turns change notices into top-N snapshots, at a bounded rate.

It consumes ``leaderboard-change``, coalesces the notices of each batch per leaderboard,
and publishes each changed leaderboard at most once per interval: it reads the top N
with display names in one Redis script, and when they differ from the last snapshot it
caches the new snapshot in Redis and produces it to the compacted ``leaderboard`` topic.
"""
