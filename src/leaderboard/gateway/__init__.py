"""The gateway: live leaderboards for browsers, over WebSocket, plus a REST API.

One Kafka consumer thread per process reads the snapshots of the ``leaderboard`` topic;
the event loop keeps the latest per leaderboard and fans it out to every WebSocket client
of that leaderboard, serialised and framed once, with at most one pending snapshot per
client (latest wins). The REST API reads the Redis sorted sets live. Modules:

- ``settings``: ``GatewaySettings``;
- ``messages``: the WebSocket protocol's messages and ``Update`` (serialised once);
- ``hub``: latest snapshot per leaderboard, subscribers, the latest-wins ``Mailbox``;
- ``direct``: the fast subscriber: pre-framed snapshots written straight to the socket;
- ``feed``: the Kafka consumer thread (manual assignment, broadcast to every replica);
- ``live``: one WebSocket session (origin check, connection cap, sender, heartbeats);
- ``origins``: the Origin allow-list;
- ``transport``: uvicorn's WebSocket protocol with direct frame writes, bounded buffers
  and aborts of dead peers;
- ``rankings``: Redis reads (Lua scripts) for the REST API and the snapshot cache;
- ``api`` and ``models``: the REST routes and their response models;
- ``app``: the FastAPI application factory ``create_app``;
- ``static/``: the live page (plain HTML, CSS and JavaScript);
- ``__main__``: the process entry point (``python -m leaderboard.gateway``).
"""
