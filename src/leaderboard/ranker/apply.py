"""Applying a partition's batch to Redis exactly once, in one atomic Lua script.

Offset check, bulk writes, dedup buckets and pipelining: docs/services.md, "Ranker".
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import hiredis
from redis.commands.core import Script
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from leaderboard.core.boards import Operator, Sort
from leaderboard.core.clients import RedisClient, RedisConnection
from leaderboard.core.events import ScoreEvent
from leaderboard.core.keys import RedisKeys
from leaderboard.core.periods import ALL_TIME
from leaderboard.core.standings import STORED_SCORE_LUA, reach_code

APPLY_SCRIPT = (
    STORED_SCORE_LUA
    + """
local next_offset = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local first = tonumber(ARGV[2])
local last = tonumber(ARGV[3])
if next_offset and first > next_offset and ARGV[5] ~= '1' then
  return {-1, next_offset}
end
if not next_offset and ARGV[5] == '2' then
  return {-1, -1}
end
if next_offset and last < next_offset then
  return {0, next_offset}
end
local nboards = tonumber(ARGV[6])
-- unpack() is bounded by Lua's stack: multi-member calls take at most CHUNK members.
local CHUNK = 1000
-- Tables are filled with explicit counters: Lua 5.1's # searches for the border each time.
local function call_chunked(command, key, values, step)
  local replies, n, count = {}, 0, #values
  for s = 1, count, step do
    local reply = redis.call(command, key, unpack(values, s, math.min(s + step - 1, count)))
    if type(reply) == 'table' then
      for _, r in ipairs(reply) do
        n = n + 1
        replies[n] = r
      end
    end
  end
  return replies
end
-- Where the sections of ARGV start (layout below the script).
local counts_at = 6 + nboards
local operators_at = 6 + 2 * nboards
local periods_at = 6 + 3 * nboards
local offsets_at = 7 + 4 * nboards
local nnames = tonumber(ARGV[offsets_at + 1])
local events_at = offsets_at + 2 + 2 * nnames
local names_of = {}
for j = offsets_at + 2, events_at - 1, 2 do
  names_of[tonumber(ARGV[j])] = ARGV[j + 1]
end
-- 1. The events not applied before: all of them unless the batch straddles the stored
--    next offset, and only then are the events' offsets read.
local applied_before = {}
local already = 0
if next_offset and first < next_offset then
  local k = 0
  for offset in string.gmatch(ARGV[offsets_at], '%d+') do
    k = k + 1
    if tonumber(offset) < next_offset then
      applied_before[k] = true
      already = already + 1
    end
  end
end
-- Only a sum board's ids are looked up in the dedup window: best and latest are
-- idempotent (an event applied again changes nothing), so theirs need no lookup.
local numbers, boards_of, ids, checked, checked_at = {}, {}, {}, {}, {}
local k, todo, nchecked = 0, 0, 0
for b = 1, nboards do
  local sums = ARGV[operators_at + b] == 's'
  for _ = 1, tonumber(ARGV[counts_at + b]) do
    k = k + 1
    if not applied_before[k] then
      todo = todo + 1
      numbers[todo] = k
      boards_of[todo] = b
      ids[todo] = ARGV[events_at + 4 * k - 2]
      if sums then
        nchecked = nchecked + 1
        checked[nchecked] = ids[todo]
        checked_at[todo] = nchecked
      end
    end
  end
end
-- 2. Skip the ids the dedup window holds, or this batch holds a second time; fold the
--    rest per player by the board's operator, keeping each player's newest display name.
--    Scores arrive signed so that higher is better; a reach is a code of 16 digits,
--    higher for an earlier time (docs/architecture.md, "Ties").
local in_current = call_chunked('SMISMEMBER', KEYS[2], checked, CHUNK)
local in_previous = call_chunked('SMISMEMBER', KEYS[3], checked, CHUNK)
-- A reset board counts only events from its reset on (a higher code is earlier).
local board_ids = {}
for b = 1, nboards do board_ids[b] = ARGV[6 + b] end
local resets = call_chunked('HMGET', KEYS[5], board_ids, CHUNK)
-- A closed period takes no more events (its final standings were read at the close).
local closed = {}
for b = 1, nboards do
  local period = ARGV[periods_at + b]
  closed[b] = period ~= '' and redis.call('SISMEMBER', KEYS[7], board_ids[b] .. '/' .. period) == 1
end
-- Players erased since the ranker last heard of erasures; none is the usual case.
local any_erased = redis.call('SCARD', KEYS[6]) > 0
local erased = {}
local function is_erased(player)
  if not any_erased then return false end
  local known = erased[player]
  if known == nil then
    known = redis.call('SISMEMBER', KEYS[6], redis.sha1hex(player)) == 1
    erased[player] = known
  end
  return known
end
local seen, fresh, nfresh = {}, {}, 0
local value, reach, moved, players, nplayers, names, applied = {}, {}, {}, {}, {}, {}, {}
for b = 1, nboards do
  value[b], reach[b], moved[b], players[b], nplayers[b], names[b], applied[b] =
    {}, {}, {}, {}, 0, {}, 0
end
local duplicates, before_reset, erased_numbers, closed_numbers = 0, 0, {}, {}
for j, n in ipairs(numbers) do
  local id, c = ids[j], checked_at[j]
  if seen[id] or (c and (in_current[c] == 1 or in_previous[c] == 1)) then
    duplicates = duplicates + 1
  else
    seen[id] = true
    nfresh = nfresh + 1
    fresh[nfresh] = id
    local b = boards_of[j]
    local at = events_at + 4 * n - 4
    local player = ARGV[at]
    local score = tonumber(ARGV[at + 1])
    local r = ARGV[at + 3]
    local v = value[b][player]
    local counted = false
    if resets[b] and r > resets[b] then
      before_reset = before_reset + 1
    elseif closed[b] then
      closed_numbers[#closed_numbers + 1] = n
    elseif is_erased(player) then
      erased_numbers[#erased_numbers + 1] = n
    elseif v == nil then
      counted = true
      nplayers[b] = nplayers[b] + 1
      players[b][nplayers[b]] = player
      value[b][player], reach[b][player], moved[b][player] = score, r, score ~= 0
    else
      counted = true
      local op = ARGV[operators_at + b]
      if op == 's' then
        value[b][player] = v + score
        if score ~= 0 then
          reach[b][player], moved[b][player] = r, true
        end
      elseif op == 'b' then
        if score > v or (score == v and r > reach[b][player]) then
          value[b][player], reach[b][player] = score, r
        end
      else -- latest: the newest event (lowest code); at equal times, the better score
        local held = reach[b][player]
        if r < held or (r == held and score > v) then
          value[b][player], reach[b][player] = score, r
        end
      end
    end
    if counted then
      if names_of[n] then
        names[b][player] = names_of[n]
      end
      applied[b] = applied[b] + 1
    end
  end
end
-- 3. Combine with the stored standings and write what changed: the new ids, each changed
--    player's stored score (its integer score and reach, core.standings), a latest
--    board's exact reach codes, and names. Few commands per board and chunk, so the
--    append-only file stays small.
call_chunked('SADD', KEYS[2], fresh, CHUNK)
for b = 1, nboards do
  local board, names_key, reached_key = KEYS[4 + 4 * b], KEYS[5 + 4 * b], KEYS[6 + 4 * b]
  local op, list, count = ARGV[operators_at + b], players[b], nplayers[b]
  local vb, rb, mb = value[b], reach[b], moved[b]
  for s = 1, count, CHUNK do
    local e = math.min(s + CHUNK - 1, count)
    local adds, na = {}, 0
    if op == 'l' then
      -- The newest event wins: compared by exact reach codes, not the stored fraction.
      local held = redis.call('HMGET', reached_key, unpack(list, s, e))
      local codes, nc = {}, 0
      for i = 1, e - s + 1 do
        local player = list[s + i - 1]
        local v, r, old_r = vb[player], rb[player], held[i]
        local newer = not old_r or r < old_r
        if not newer and r == old_r then
          local old = redis.call('ZSCORE', board, player)
          newer = not old or v > math.floor(tonumber(old))
        end
        if newer then
          na = na + 2
          adds[na - 1], adds[na] = stored(v, tonumber(r)), player
          nc = nc + 2
          codes[nc - 1], codes[nc] = player, r
        end
      end
      if nc > 0 then redis.call('HSET', reached_key, unpack(codes, 1, nc)) end
    else
      local scores = redis.call('ZMSCORE', board, unpack(list, s, e))
      for i = 1, e - s + 1 do
        local player = list[s + i - 1]
        local v, r = vb[player], rb[player]
        local old = scores[i] and tonumber(scores[i])
        local new
        if not old then
          new = stored(v, tonumber(r))
        elseif op == 's' then
          local old_v = math.floor(old)
          -- Only deltas of 0: the reach stays, as precisely as the old score kept it.
          new = stored(old_v + v, mb[player] and tonumber(r) or (old - old_v) * TWO_53)
        else -- best: the stored order is (score, earlier reach), so the higher one wins
          new = stored(v, tonumber(r))
          if new <= old then new = old end
        end
        if new ~= old then
          na = na + 2
          adds[na - 1], adds[na] = new, player -- Redis formats a number with %.17g: exact
        end
      end
    end
    if na > 0 then redis.call('ZADD', board, unpack(adds, 1, na)) end
  end
  local pairs_, n = {}, 0
  for k = 1, count do
    local name = names[b][list[k]]
    if name then
      pairs_[n + 1] = list[k]
      pairs_[n + 2] = name
      n = n + 2
    end
  end
  call_chunked('HSET', names_key, pairs_, 2 * CHUNK)
end
redis.call('HSET', KEYS[1], ARGV[1], last + 1)
redis.call('EXPIREAT', KEYS[2], ARGV[4])
call_chunked('SADD', KEYS[4], board_ids, CHUNK)
for b = 1, nboards do
  local period = ARGV[periods_at + b]
  if applied[b] > 0 and period ~= '' and period ~= 'all' then
    redis.call('SADD', KEYS[7 + 4 * b], period)
  end
end
-- The offsets of the events of erased players and of closed periods, for the ranker to
-- dead-letter.
local erased_offsets, closed_offsets = {}, {}
if #erased_numbers + #closed_numbers > 0 then
  local offsets, k = {}, 0
  for offset in string.gmatch(ARGV[offsets_at], '%d+') do
    k = k + 1
    offsets[k] = tonumber(offset)
  end
  for i, n in ipairs(erased_numbers) do erased_offsets[i] = offsets[n] end
  for i, n in ipairs(closed_numbers) do closed_offsets[i] = offsets[n] end
end
local result = {1, next_offset or -1, duplicates, already, before_reset, erased_offsets,
  closed_offsets}
for b = 1, nboards do result[7 + b] = applied[b] end
return result
"""
)
# KEYS: 1 offsets hash, 2 current seen set, 3 previous seen set, 4 boards set, 5 resets
#       hash, 6 erased players set, 7 closed periods set, then per board b (1-based), a
#       board being one period of a leaderboard: 4+4b its sorted set, 5+4b the display
#       names, 6+4b its reach codes (used on latest boards), 7+4b the leaderboard's
#       periods set.
# ARGV: 1 partition, 2 first offset, 3 last offset, 4 when the current seen set stops
#       being consulted (unix time, for EXPIREAT), 5 allow a gap ('1'), or expect a
#       stored offset ('2': refused as a gap without one, Redis lost its data), 6 board count B,
#       then B leaderboard ids, then B event counts (the events come grouped by board, in
#       offset order within a board), then B operators ('s' sum, 'b' best, 'l' latest),
#       then B period ids ('' for a leaderboard whose all-time period never closes), then
#       the events' offsets comma-separated, then the number of display names N and
#       N pairs (event number, name), then 4 per event: player id, score (negated on an
#       ascending board), event id (16 raw bytes), reach code (core.standings). Per
#       event only what every event needs: Redis parses each argument, and most events
#       have no name.

#: The script's code of each operator.
OPERATOR_CODES: dict[Operator, str] = {"sum": "s", "best": "b", "latest": "l"}


@dataclass(frozen=True)
class Scoring:
    """How one board's events combine: its operator and its sort."""

    operator: Operator = "sum"
    sort: Sort = "desc"


#: Boards without a definition (created on the fly).
DEFAULT_SCORING = Scoring()


@dataclass
class PartitionBatch:
    """The offsets a batch covers on one partition, and its valid events in order."""

    partition: int
    first_offset: int
    last_offset: int
    events: list[tuple[int, ScoreEvent]] = field(default_factory=list)  # (offset, event)
    #: How each board of the batch scores; a board not named here: ``DEFAULT_SCORING``.
    scoring: dict[str, Scoring] = field(default_factory=dict)
    #: offset -> the id of the period its event counts in, for boards whose periods
    #: close (``Schedule.closes``); other events count in the never-closing all-time.
    periods: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplyResult:
    """What the script did with one partition's batch."""

    partition: int
    gap: bool  # refused: the batch starts past ``stored_next``
    stored_next: int | None  # the partition's next offset before this batch (None: new)
    applied_per_board: dict[str, int]
    duplicates: int
    already_applied: int
    #: Per leaderboard of the batch, its events' newest ``occurred_at`` (for the change
    #: notice); empty for a refused batch.
    newest_event_at: dict[str, datetime] = field(default_factory=dict)
    #: Events that occurred before their board's last reset, not counted.
    before_reset: int = 0
    #: Offsets of events of players erased meanwhile (Redis knew before the ranker did):
    #: not counted, to be dead-lettered.
    erased_offsets: list[int] = field(default_factory=list)
    #: Offsets of events of periods closed meanwhile: not counted, to be dead-lettered.
    closed_offsets: list[int] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return sum(self.applied_per_board.values())


#: Most events one script applies. A script holds Redis while it runs (about 10 µs per
#: event under load), so a partition's larger batch is applied as several scripts in a
#: row, and other clients (the publisher, the gateway) wait at most about 20 ms.
MAX_SCRIPT_EVENTS = 2000

#: An argument of the apply script (Redis receives each as a string).
ScriptArg = int | str | bytes


def split(batch: PartitionBatch, size: int = MAX_SCRIPT_EVENTS) -> list[PartitionBatch]:
    """``batch`` as consecutive pieces of at most ``size`` events that together cover
    exactly its offsets (each piece starts where the previous one ended)."""
    if len(batch.events) <= size:
        return [batch]
    pieces = []
    first = batch.first_offset
    for start in range(0, len(batch.events), size):
        events = batch.events[start : start + size]
        last = events[-1][0] if start + size < len(batch.events) else batch.last_offset
        pieces.append(
            PartitionBatch(batch.partition, first, last, events, batch.scoring, batch.periods)
        )
        first = last + 1
    return pieces


@dataclass(eq=False)  # identity: told apart from others in the outstanding queue
class PendingApply:
    """One consumed batch's scripts, sent or to be run again, and what to read back."""

    batches: list[PartitionBatch]
    calls: list[tuple[list[str], list[ScriptArg]]]  # (keys, args) of each script
    # Each script's boards (leaderboard, period), in the order it reports them: the
    # leaderboard id and its events' newest occurred_at.
    boards_of: list[list[tuple[str, datetime]]]
    pieces: list[PartitionBatch] = field(default_factory=list)  # what each script applies
    sent_on: int | None = None  # the connection generation it was sent on; None: not sent


class BatchApplier:
    """Runs the apply script for several partitions in one Redis round trip."""

    def __init__(
        self, redis: RedisClient, keys: RedisKeys, group: str, topic: str, dedup_window: int
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._offsets_key = keys.offsets(group, topic)
        self._window = dedup_window
        self._script: Script = redis.register_script(APPLY_SCRIPT)
        self._connection: RedisConnection | None = None  # for send/finish only
        self._generation = 0  # bumped whenever that connection is dropped
        self._outstanding: deque[PendingApply] = deque()  # sent or not, not finished yet

    def close(self) -> None:
        """Give the pipelining connection back (replies not read are dropped with it)."""
        self._outstanding.clear()
        self._drop_connection()

    def send(
        self,
        batches: Sequence[PartitionBatch],
        now: float,
        allow_gap: frozenset[int] = frozenset(),
        expect_stored: frozenset[int] = frozenset(),
    ) -> PendingApply:
        """Send every partition's script without waiting for the replies.

        Never raises for an unreachable Redis: the batch is then marked unsent, and
        ``finish`` runs it (with the caller's retries)."""
        pending = self._prepare(batches, now, allow_gap, expect_stored)
        # Redis must run batches in the order they were started. If an earlier one will
        # be run again (not sent, or lost with a dropped connection), sending this one
        # now would overtake it; on a partition with no stored offset yet no fence would
        # refuse this one, and the earlier batch would then be skipped as applied.
        behind = any(not self._live(earlier) for earlier in self._outstanding)
        self._outstanding.append(pending)
        if behind:
            return pending
        try:
            connection = self._pipelining_connection()
            # hiredis packs the whole argument tuple in C; redis-py's packer first walks
            # every argument in Python, which cost a sixth of the ranker's time. (Its stub
            # types the command as a one-element tuple.)
            packed = b"".join(
                hiredis.pack_command(("EVALSHA", self._script.sha, len(keys), *keys, *args))  # type: ignore[arg-type]
                for keys, args in pending.calls
            )
            connection.send_packed_command([packed], check_health=False)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self._drop_connection()
            return pending
        pending.sent_on = self._generation
        return pending

    def finish(self, pending: PendingApply) -> list[ApplyResult]:
        """Read the replies of a sent batch, or run it (again) if they are not coming:
        not sent, lost with a dropped connection, or refused because Redis lost the
        script cache. Batches must be finished in the order they were sent."""
        with contextlib.suppress(ValueError):  # finished before (a retry): already gone
            self._outstanding.remove(pending)
        if not self._live(pending):
            return self._run(pending)
        assert self._connection is not None
        replies: list[Any] = []
        errors: list[ResponseError] = []
        try:
            for _ in pending.calls:
                try:
                    replies.append(self._connection.read_response())
                except ResponseError as error:
                    errors.append(error)  # keep reading: every reply must be consumed
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self._drop_connection()
            raise
        finally:
            pending.sent_on = None  # read (or lost): a second finish runs it again
        if any(isinstance(error, NoScriptError) for error in errors):
            # The batches sent after this one were refused too, or ran before it is run
            # again: drop them with the connection, so they and the batches started
            # next are run again in order.
            self._drop_connection()
            return self._run(pending)
        if errors:
            raise errors[0]
        return self._results(pending, replies)

    def _live(self, pending: PendingApply) -> bool:
        """Sent on the current connection, so its replies are still coming."""
        return pending.sent_on is not None and pending.sent_on == self._generation

    def _pipelining_connection(self) -> RedisConnection:
        if self._connection is None:
            self._connection = self._redis.connection_pool.get_connection()
            # The script must be known before EVALSHA arrives (after a Redis restart its
            # cache is empty); SCRIPT LOAD is idempotent.
            self._connection.send_command("SCRIPT", "LOAD", APPLY_SCRIPT)
            self._connection.read_response()
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        self._generation += 1
        connection.disconnect()
        # Taken from that pool, so one of its own connections.
        self._redis.connection_pool.release(cast(Connection, connection))

    def stored_offsets(self, partitions: Sequence[int]) -> dict[int, int | None]:
        """The next offset to apply of each partition, None where nothing was applied."""
        if not partitions:
            return {}
        values = self._redis.hmget(self._offsets_key, [str(p) for p in partitions])
        return {
            p: (int(value) if value is not None else None)
            for p, value in zip(partitions, values, strict=True)
        }

    def apply(
        self,
        batches: Sequence[PartitionBatch],
        now: float,
        allow_gap: frozenset[int] = frozenset(),
        expect_stored: frozenset[int] = frozenset(),
    ) -> list[ApplyResult]:
        """Apply every partition's batch (pipelined, each one atomic) and report.
        ``allow_gap``: partitions whose batch may start past the stored offset;
        ``expect_stored``: partitions whose batch is refused as a gap (``stored_next``
        None) when Redis holds no offset for them."""
        return self._run(self._prepare(batches, now, allow_gap, expect_stored))

    def _prepare(
        self,
        batches: Sequence[PartitionBatch],
        now: float,
        allow_gap: frozenset[int],
        expect_stored: frozenset[int],
    ) -> PendingApply:
        bucket = int(now) // self._window
        seen_keys = [self._keys.seen(bucket), self._keys.seen(bucket - 1)]
        pending = PendingApply(list(batches), [], [])
        for batch in batches:
            mode = (
                "1"
                if batch.partition in allow_gap
                else "2"
                if batch.partition in expect_stored
                else "0"
            )
            for piece in split(batch):
                keys, args, boards = self._script_call(piece, seen_keys, bucket, mode)
                pending.calls.append((keys, args))
                pending.boards_of.append(boards)
                pending.pieces.append(piece)
        return pending

    def _run(self, pending: PendingApply) -> list[ApplyResult]:
        """Run the batch's scripts in one round trip of a pooled connection (the
        ``Script`` loads itself where Redis does not know it)."""
        pipe = self._redis.pipeline(transaction=False)
        for keys, args in pending.calls:
            self._script(keys=keys, args=args, client=pipe)
        return self._results(pending, pipe.execute())

    def _results(self, pending: PendingApply, replies: list[Any]) -> list[ApplyResult]:
        """One result per partition, from the replies of its pieces' scripts."""
        per_partition: dict[int, list[ApplyResult]] = {}
        for piece, reply, boards in zip(pending.pieces, replies, pending.boards_of, strict=True):
            per_partition.setdefault(piece.partition, []).append(self._result(piece, reply, boards))
        return [merge_results(per_partition[batch.partition]) for batch in pending.batches]

    def _script_call(
        self, batch: PartitionBatch, seen_keys: list[str], bucket: int, mode: str
    ) -> tuple[list[str], list[ScriptArg], list[tuple[str, datetime]]]:
        # One pass, per board (a leaderboard's period): the offsets, the 4 arguments of
        # each event, the events with a name (their number within the board's events,
        # 1-based), and the newest event time (here rather than in a second pass).
        groups: dict[
            tuple[str, str],
            tuple[list[int], list[ScriptArg], list[tuple[int, str]], list[datetime]],
        ] = {}
        negated = {board for board, rule in batch.scoring.items() if rule.sort == "asc"}
        periods = batch.periods
        for offset, event in batch.events:
            board = event.leaderboard
            key = (board, periods.get(offset, "") if periods else "")
            group = groups.get(key)
            if group is None:
                group = groups[key] = ([], [], [], [event.occurred_at])
            board_offsets, board_args, named, latest = group
            board_offsets.append(offset)
            board_args += (
                event.player_id,
                -event.score if board in negated else event.score,
                event.event_id.bytes,
                reach_code(event.occurred_at),
            )
            if event.display_name is not None:
                named.append((len(board_offsets), event.display_name))
            if event.occurred_at > latest[0]:
                latest[0] = event.occurred_at
        offsets: list[int] = []
        names: list[ScriptArg] = []
        event_args: list[ScriptArg] = []
        for board_offsets, board_args, named, _ in groups.values():
            for number, name in named:
                names += (len(offsets) + number, name)
            offsets += board_offsets
            event_args += board_args
        keys = [
            self._offsets_key,
            *seen_keys,
            self._keys.boards(),
            self._keys.resets(),
            self._keys.erased(),
            self._keys.closed(),
        ]
        for board, period in groups:
            period_id = period or ALL_TIME
            keys += (
                self._keys.board(board, period_id),
                self._keys.names(board),
                self._keys.reached(board, period_id),
                self._keys.periods(board),
            )
        operators = [
            OPERATOR_CODES[batch.scoring.get(board, DEFAULT_SCORING).operator]
            for board, _ in groups
        ]
        header: list[ScriptArg] = [
            batch.partition,
            batch.first_offset,
            batch.last_offset,
            (bucket + 2) * self._window,
            mode,
            len(groups),
            *(board for board, _ in groups),
            *(len(group[0]) for group in groups.values()),
            *operators,
            *(period for _, period in groups),
            ",".join(map(str, offsets)),
            len(names) // 2,
            *names,
        ]
        reported = [(board, group[3][0]) for (board, _), group in groups.items()]
        return keys, header + event_args, reported

    @staticmethod
    def _result(
        batch: PartitionBatch, reply: list[Any], boards: list[tuple[str, datetime]]
    ) -> ApplyResult:
        status, stored = int(reply[0]), int(reply[1])
        stored_next = None if stored < 0 else stored
        newest: dict[str, datetime] = {}
        for board, at in boards:
            if board not in newest or at > newest[board]:
                newest[board] = at
        if status <= 0:
            # -1: refused as a gap; 0: the whole batch was applied before.
            return ApplyResult(
                batch.partition,
                gap=status < 0,
                stored_next=stored_next,
                applied_per_board={},
                duplicates=0,
                already_applied=0 if status < 0 else len(batch.events),
                newest_event_at={} if status < 0 else newest,
            )
        applied: dict[str, int] = {}
        for (board, _), count in zip(boards, reply[7:], strict=True):
            applied[board] = applied.get(board, 0) + int(count)
        return ApplyResult(
            batch.partition,
            gap=False,
            stored_next=stored_next,
            applied_per_board=applied,
            duplicates=int(reply[2]),
            already_applied=int(reply[3]),
            before_reset=int(reply[4]),
            erased_offsets=[int(offset) for offset in reply[5]],
            closed_offsets=[int(offset) for offset in reply[6]],
            newest_event_at=newest,
        )


def merge_results(results: list[ApplyResult]) -> ApplyResult:
    """The result of a partition's batch from those of its pieces, in order. A refused
    piece refuses the batch (its stored offset is where to rewind to); pieces are
    contiguous, so only the first can be refused unless another ranker interfered."""
    if len(results) == 1:
        return results[0]
    refused = next((result for result in results if result.gap), None)
    applied: dict[str, int] = {}
    newest: dict[str, datetime] = {}
    for result in results:
        for board, count in result.applied_per_board.items():
            applied[board] = applied.get(board, 0) + count
        for board, at in result.newest_event_at.items():
            if board not in newest or at > newest[board]:
                newest[board] = at
    return ApplyResult(
        results[0].partition,
        gap=refused is not None,
        stored_next=(refused or results[0]).stored_next,
        applied_per_board=applied,
        duplicates=sum(result.duplicates for result in results),
        already_applied=sum(result.already_applied for result in results),
        before_reset=sum(result.before_reset for result in results),
        erased_offsets=[offset for result in results for offset in result.erased_offsets],
        closed_offsets=[offset for result in results for offset in result.closed_offsets],
        newest_event_at=newest,
    )
