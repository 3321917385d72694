"""The gateway: live leaderboards for browsers over WebSocket, plus a REST API.

How a process works inside: docs/api.md, "Inside a gateway process".
"""
