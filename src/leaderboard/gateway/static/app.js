// The live leaderboard page. Plain JavaScript, no build step.
//
// - Every URL is relative to the page, so it works behind a proxy at a path prefix;
//   the WebSocket scheme (ws: or wss:) follows the page's own (http: or https:).
// - One WebSocket per selected leaderboard (/ws/leaderboards/<id>, protocol 1 messages:
//   hello, snapshot, player, heartbeat; see docs/api.md). It reconnects on its own with
//   exponential backoff and full jitter, and treats a silent connection (no message for
//   a few heartbeat intervals) as dead.
// - The looked-up player is watched on that socket (?player=<id>&radius=3): its rank,
//   score and neighbours arrive as `player` messages whenever they change, no polling.
//   Looking up another player reconnects with the new id.
// - Rank changes are animated (FLIP: rows glide from their old to their new place).
// - Each board is shown as its definition says (carried by its snapshots): its title, and
//   its scores as numbers or, for `time_ms` boards, as times (83456 -> 1:23.456). Rows come
//   in rank order, so an `asc` board needs nothing more.
// - A board that resets on a schedule shows its snapshot's period and a countdown to
//   `period_ends_at` (on the server's clock, from hello's server_time); at the reset the
//   server sends the new period's snapshot, empty until its first score.
// - Its past periods (GET api/leaderboards/<id>/periods) are offered in a selector: a
//   past period shows its standings from REST (top?period=, final once closed) while the
//   socket stays open; "Live" (or "Back to live") shows the latest snapshot again.
"use strict";

(() => {
  const PROTOCOL = 1;
  const TOP = 10;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_CAP_MS = 15000;
  const FULL_SERVER_MIN_MS = 5000; // close code 1013: the server is at its connection cap
  const MOVE_VISIBLE_MS = 4000;
  const LIST_REFRESH_MS = 30000;
  const LOOKUP_RADIUS = 3;
  const PERIODS_LISTED = 50;
  const PLAYER_ID = /^[A-Za-z0-9._:@-]{1,128}$/; // the server refuses any other with 1008

  const $ = (selector) => document.querySelector(selector);
  const boardEl = $("#board");
  const emptyEl = $("#board-empty");
  const selectEl = $("#board-select");
  const statusEl = $("#status");
  const statusText = $("#status-text");
  const updatedEl = $("#updated");
  const periodEl = $("#period");
  const periodPicker = $("#period-picker");
  const periodSelect = $("#period-select");
  const backToLive = $("#back-to-live");
  const lookupForm = $("#lookup-form");
  const lookupInput = $("#lookup-input");
  const lookupResult = $("#lookup-result");
  const numbers = new Intl.NumberFormat();

  const state = {
    leaderboard: null,
    socket: null,
    attempt: 0,
    retryTimer: null,
    retryAt: 0,
    retryReason: "",
    watchdog: null,
    heartbeatMs: 20000,
    lastMessageAt: 0,
    snapshot: null,
    lastUpdateAt: null,
    moves: new Map(), // player id -> {kind, delta, at}
    lookup: null, // player id being looked up, watched on the socket
    lookupRank: null, // its rank in the last `player` message shown
    playerCounts: new Map(),
    boards: new Map(), // id -> {title, format} from the list, until a snapshot says
    title: null,
    format: "integer",
    clockOffsetMs: 0, // server time minus this browser's, from hello
    latest: null, // the newest live snapshot, also while a past period is shown
    past: null, // {id, state, page} of the past period shown, or null: live
    periods: [], // the board's periods from the list, newest first
  };

  // ---- URLs ----------------------------------------------------------------------------

  function apiUrl(path) {
    return new URL(path, document.baseURI).toString();
  }

  function socketUrl(leaderboard, player) {
    const url = new URL(`ws/leaderboards/${encodeURIComponent(leaderboard)}`, document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (player) {
      url.searchParams.set("player", player);
      url.searchParams.set("radius", String(LOOKUP_RADIUS));
    }
    return url.toString();
  }

  // ---- connection status -----------------------------------------------------------------

  function setStatus(kind, text) {
    statusEl.dataset.state = kind;
    statusText.textContent = text;
  }

  function scheduleReconnect(reason, minimumMs = 0) {
    clearTimeout(state.retryTimer);
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** state.attempt);
    const delay = Math.max(minimumMs, Math.round(Math.random() * ceiling)); // full jitter
    state.attempt += 1;
    state.retryAt = Date.now() + delay;
    state.retryReason = reason;
    state.retryTimer = setTimeout(connect, delay);
    renderRetry();
  }

  function renderRetry() {
    if (!state.retryAt) return;
    const seconds = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
    setStatus("offline", `${state.retryReason} · retrying in ${seconds}s`);
  }

  // ---- the WebSocket -------------------------------------------------------------------

  // `keepStatus`: a live socket replaced by one watching another player; the page stays
  // "Live" meanwhile rather than flash "Connecting…".
  function connect({ keepStatus = false } = {}) {
    clearTimeout(state.retryTimer);
    state.retryAt = 0;
    disconnect();
    const leaderboard = state.leaderboard;
    if (!leaderboard) return;
    if (!keepStatus) {
      setStatus("connecting", state.attempt ? `Reconnecting (attempt ${state.attempt})…` : "Connecting…");
    }
    let socket;
    try {
      socket = new WebSocket(socketUrl(leaderboard, state.lookup));
    } catch (error) {
      scheduleReconnect("Cannot connect");
      return;
    }
    state.socket = socket;
    state.lastMessageAt = Date.now();

    socket.onmessage = (event) => {
      if (socket !== state.socket) return;
      state.lastMessageAt = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message.protocol !== PROTOCOL) return; // a newer server: ignore what we cannot read
      if (message.type === "hello") {
        state.attempt = 0;
        state.heartbeatMs = (message.heartbeat_seconds || 20) * 1000;
        const serverTime = Date.parse(message.server_time);
        if (!Number.isNaN(serverTime)) state.clockOffsetMs = serverTime - Date.now();
        setStatus("live", "Live");
        if (!message.has_snapshot) showLive(null);
      } else if (message.type === "snapshot") {
        showLive(message);
      } else if (message.type === "player") {
        if (message.player_id === state.lookup && message.leaderboard === state.leaderboard) {
          renderLookup(message);
        }
      }
      // "heartbeat": nothing to do, lastMessageAt is enough.
    };

    socket.onclose = (event) => {
      if (socket !== state.socket) return;
      state.socket = null;
      clearInterval(state.watchdog);
      if (event.code === 1008) {
        setStatus("offline", event.reason || "Refused by the server");
        return; // a bad leaderboard id: retrying would not help
      }
      const reason = event.code === 1013 ? "Server busy" : "Disconnected";
      scheduleReconnect(reason, event.code === 1013 ? FULL_SERVER_MIN_MS : 0);
    };

    // A connection can die silently (sleeping laptop, lost network): the server sends a
    // message at least every heartbeat interval, so a longer silence means it is gone.
    clearInterval(state.watchdog);
    state.watchdog = setInterval(() => {
      if (socket !== state.socket) return;
      if (Date.now() - state.lastMessageAt > state.heartbeatMs * 2.5 + 5000) {
        socket.close();
        state.socket = null;
        clearInterval(state.watchdog);
        scheduleReconnect("Connection lost");
      }
    }, 1000);
  }

  function disconnect() {
    clearInterval(state.watchdog);
    if (state.socket) {
      const socket = state.socket;
      state.socket = null;
      socket.onclose = null;
      socket.onmessage = null;
      socket.close(1000, "leaving");
    }
  }

  // ---- scores ------------------------------------------------------------------------------

  function pad(number, width) {
    return String(number).padStart(width, "0");
  }

  // Milliseconds as m:ss.mmm, or h:mm:ss.mmm from an hour on.
  function formatTime(ms) {
    const sign = ms < 0 ? "-" : "";
    let rest = Math.abs(Math.trunc(ms));
    const hours = Math.floor(rest / 3600000);
    rest -= hours * 3600000;
    const minutes = Math.floor(rest / 60000);
    rest -= minutes * 60000;
    const seconds = Math.floor(rest / 1000);
    const tail = `${pad(seconds, 2)}.${pad(rest - seconds * 1000, 3)}`;
    return hours ? `${sign}${hours}:${pad(minutes, 2)}:${tail}` : `${sign}${minutes}:${tail}`;
  }

  function formatScore(score) {
    return state.format === "time_ms" ? formatTime(score) : numbers.format(score);
  }

  function scoreWords(score) {
    return state.format === "time_ms" ? `time ${formatTime(score)}` : `${numbers.format(score)} points`;
  }

  // The board's title and score format: its snapshot's, else the list's, else the defaults.
  function describeBoard(snapshot) {
    const listed = state.boards.get(state.leaderboard) || {};
    const source = snapshot && snapshot.title ? snapshot : listed;
    state.title = source.title || state.leaderboard;
    state.format = (snapshot && snapshot.format) || listed.format || "integer";
    $("#board-name").textContent = `· ${state.title}`;
    $("#score-heading").textContent = state.format === "time_ms" ? "Time" : "Score";
    boardEl.dataset.format = state.format;
    document.title = `${state.title} · Live leaderboard`;
  }

  // ---- the top 10 ------------------------------------------------------------------------

  function initials(name) {
    const parts = name.replace(/[^A-Za-z0-9 ]+/g, " ").trim().split(/\s+/);
    const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] || "?").slice(0, 2);
    return letters.toUpperCase();
  }

  function hue(text) {
    // FNV-1a, spread around the colour wheel by the golden angle.
    let hash = 0x811c9dc5;
    for (let i = 0; i < text.length; i += 1) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return Math.round((hash * 137.508) % 360);
  }

  function makeRow(entry) {
    const row = document.createElement("li");
    row.className = "row";
    row.dataset.player = entry.player_id;
    row.innerHTML = `
      <span class="rank"><span class="rank-number"></span><span class="move"></span></span>
      <span class="player">
        <span class="avatar" aria-hidden="true"></span>
        <span class="names"><span class="name"></span><span class="player-id"></span></span>
      </span>
      <span class="score"></span>`;
    const avatar = row.querySelector(".avatar");
    avatar.style.background = `hsl(${hue(entry.player_id)} 70% 68%)`;
    row.addEventListener("click", () => {
      lookupInput.value = row.dataset.player;
      lookup(row.dataset.player);
    });
    return row;
  }

  function fillRow(row, entry, previous) {
    const name = entry.display_name || entry.player_id;
    row.dataset.rank = String(entry.rank);
    row.querySelector(".rank-number").textContent = entry.rank;
    row.querySelector(".name").textContent = name;
    row.querySelector(".player-id").textContent = entry.display_name ? entry.player_id : "";
    row.querySelector(".avatar").textContent = initials(name);
    const score = row.querySelector(".score");
    score.textContent = formatScore(entry.score);
    row.setAttribute("aria-label", `Rank ${entry.rank}: ${name}, ${scoreWords(entry.score)}`);

    const now = Date.now();
    if (previous === undefined) {
      if (state.snapshot) state.moves.set(entry.player_id, { kind: "new", delta: 0, at: now });
    } else {
      if (previous.rank !== entry.rank) {
        const delta = previous.rank - entry.rank;
        state.moves.set(entry.player_id, { kind: delta > 0 ? "up" : "down", delta, at: now });
        restartAnimation(row, delta > 0 ? "climbed" : "fell");
      }
      if (previous.score !== entry.score) restartAnimation(score, "bumped");
    }
    const move = row.querySelector(".move");
    const recent = state.moves.get(entry.player_id);
    if (recent && now - recent.at < MOVE_VISIBLE_MS) {
      move.className = `move ${recent.kind}`;
      move.textContent =
        recent.kind === "new" ? "NEW" : `${recent.kind === "up" ? "▲" : "▼"}${Math.abs(recent.delta)}`;
      move.title = recent.kind === "new" ? "New in the top 10" : `${recent.kind === "up" ? "Up" : "Down"} ${Math.abs(recent.delta)}`;
    } else {
      move.className = "move";
      move.textContent = "";
      move.title = "";
    }
    row.classList.toggle("looked-up", entry.player_id === state.lookup);
  }

  function restartAnimation(element, className) {
    element.classList.remove(className);
    void element.offsetWidth; // reflow, so the animation runs again
    element.classList.add(className);
  }

  function showSnapshot(snapshot) {
    // A new period starts afresh: its rows are not moves from the last period's.
    const samePeriod = !state.snapshot || !snapshot || state.snapshot.period === snapshot.period;
    const previous = new Map((state.snapshot && samePeriod ? state.snapshot.entries : []).map((e) => [e.player_id, e]));
    const entries = snapshot ? snapshot.entries.slice(0, TOP) : [];
    emptyEl.hidden = entries.length > 0;
    emptyEl.textContent = periodOf(snapshot)
      ? "No scores in this period yet. Rows appear as soon as players score."
      : "No scores on this leaderboard yet. Rows appear as soon as players score.";
    if (!samePeriod) boardEl.replaceChildren();
    describeBoard(snapshot);

    // FLIP: First positions, Last positions, Invert, Play.
    const rows = new Map([...boardEl.children].map((row) => [row.dataset.player, row]));
    const first = new Map([...rows].map(([id, row]) => [id, row.getBoundingClientRect().top]));
    const keep = new Set(entries.map((e) => e.player_id));
    for (const [id, row] of rows) {
      if (!keep.has(id)) row.remove();
    }
    entries.forEach((entry, index) => {
      let row = rows.get(entry.player_id);
      if (!row) row = makeRow(entry);
      fillRow(row, entry, previous.get(entry.player_id));
      if (boardEl.children[index] !== row) boardEl.insertBefore(row, boardEl.children[index] || null);
    });
    for (const row of boardEl.children) {
      const before = first.get(row.dataset.player);
      if (before === undefined) {
        row.animate([{ opacity: 0, transform: "scale(0.97)" }, { opacity: 1, transform: "none" }], {
          duration: 350,
          easing: "ease-out",
        });
        continue;
      }
      const dy = before - row.getBoundingClientRect().top;
      if (Math.abs(dy) > 1) {
        row.animate([{ transform: `translateY(${dy}px)` }, { transform: "none" }], {
          duration: 600,
          easing: "cubic-bezier(0.2, 0.8, 0.2, 1)",
        });
      }
    }

    state.snapshot = snapshot;
    state.lastUpdateAt = snapshot ? new Date() : null;
    $("#stat-version").textContent = snapshot ? `v${snapshot.version}` : "–";
    if (snapshot && snapshot.newest_event_at) {
      const freshness = (new Date(snapshot.generated_at) - new Date(snapshot.newest_event_at)) / 1000;
      $("#stat-freshness").textContent = `${Math.max(0, freshness).toFixed(2)}s`;
    } else {
      $("#stat-freshness").textContent = "–";
    }
    renderUpdated();
    renderPeriod();
  }

  function showLive(snapshot) {
    // The first snapshot says whether the board resets; at a rollover the period that
    // ended becomes a past one.
    const news = snapshot && (!state.latest || state.latest.period !== snapshot.period);
    state.latest = snapshot;
    if (news) loadPeriods();
    if (!state.past) showSnapshot(snapshot);
  }

  // ---- past periods ------------------------------------------------------------------------

  // Whether the board has periods that end (its snapshot's, else the list's): only such a
  // board has past ones.
  function hasPeriods() {
    const known = state.latest || state.boards.get(state.leaderboard) || {};
    return (known.period || "all") !== "all" || Boolean(known.period_ends_at);
  }

  async function loadPeriods() {
    const leaderboard = state.leaderboard;
    if (!hasPeriods()) {
      periodPicker.hidden = !state.past;
      return;
    }
    let list = [];
    try {
      const url = apiUrl(`api/leaderboards/${encodeURIComponent(leaderboard)}/periods?limit=${PERIODS_LISTED}`);
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) list = (await response.json()).periods;
      else if (response.status !== 404) return; // keep what is shown
    } catch (error) {
      return;
    }
    if (leaderboard !== state.leaderboard) return; // another board was chosen meanwhile
    const liveId = state.latest ? state.latest.period || "all" : list.length ? list[0].id : null;
    state.periods = list.filter((period) => period.id !== liveId);
    const options = [["", "Live"]].concat(
      state.periods.map((period) => [period.id, `${period.id}${period.final ? " · final" : ""}`]),
    );
    periodSelect.replaceChildren(
      ...options.map(([value, label]) => {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = label;
        return option;
      }),
    );
    periodSelect.value = state.past ? state.past.id : "";
    if (state.past && periodSelect.value !== state.past.id) periodSelect.value = ""; // gone
    periodPicker.hidden = state.periods.length === 0 && !state.past;
  }

  async function showPast(periodId) {
    if (!periodId) {
      backToLiveView();
      return;
    }
    const leaderboard = state.leaderboard;
    const listed = state.periods.find((period) => period.id === periodId) || { id: periodId, final: false };
    const query = new URLSearchParams({ period: periodId, limit: String(TOP) });
    let page;
    try {
      const response = await fetch(
        apiUrl(`api/leaderboards/${encodeURIComponent(leaderboard)}/top?${query}`),
        { headers: { Accept: "application/json" } },
      );
      page = await response.json();
      if (!response.ok) throw new Error(page.detail || `HTTP ${response.status}`);
    } catch (error) {
      periodEl.hidden = false;
      periodEl.dataset.view = "error";
      periodEl.textContent = `Cannot show period ${periodId}: ${error.message}`;
      return;
    }
    if (leaderboard !== state.leaderboard || periodSelect.value !== periodId) return; // moved on
    state.past = { id: periodId, final: listed.final, page };
    state.moves.clear();
    boardEl.replaceChildren();
    describeBoard(page);
    for (const entry of page.entries) {
      const row = makeRow(entry);
      fillRow(row, entry, entry); // no moves: nothing to compare with
      boardEl.append(row);
    }
    emptyEl.hidden = page.entries.length > 0;
    emptyEl.textContent = "Nobody scored in this period.";
    $("#stat-players").textContent = numbers.format(page.total_players);
    $("#stat-version").textContent = "–";
    $("#stat-freshness").textContent = "–";
    backToLive.hidden = false;
    renderUpdated();
    renderPeriod();
  }

  function backToLiveView() {
    if (!state.past) return;
    state.past = null;
    periodSelect.value = "";
    backToLive.hidden = true;
    boardEl.replaceChildren();
    state.snapshot = null;
    state.moves.clear();
    showSnapshot(state.latest);
    renderPlayers();
  }

  // The snapshot's period, or null on a board that never resets nor ends.
  function periodOf(snapshot) {
    if (!snapshot || ((snapshot.period || "all") === "all" && !snapshot.period_ends_at)) return null;
    return { id: snapshot.period || "all", endsAt: snapshot.period_ends_at ? Date.parse(snapshot.period_ends_at) : null };
  }

  // 93784 s -> "1d 02:03:04"; under a day "02:03:04".
  function formatCountdown(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const days = Math.floor(total / 86400);
    const clock = `${pad(Math.floor(total / 3600) % 24, 2)}:${pad(Math.floor(total / 60) % 60, 2)}:${pad(total % 60, 2)}`;
    return days > 0 ? `${days}d ${clock}` : clock;
  }

  function renderPeriod() {
    if (state.past) {
            periodEl.hidden = false;
      periodEl.dataset.view = "past";
      periodEl.dataset.period = state.past.id;
      periodEl.textContent = `Period ${state.past.id} · ${state.past.final ? "final standings" : "not final yet"}`;
      periodEl.title = state.past.page.period_ends_at
        ? `Ended ${new Date(state.past.page.period_ends_at).toLocaleString()}`
        : "";
      return;
    }
    periodEl.dataset.view = "live";
    const period = periodOf(state.snapshot);
    periodEl.hidden = !period;
    if (!period) return;
    const name = period.id === "all" ? "" : `Period ${period.id}`;
    let ends = "";
    if (period.endsAt !== null) {
      const left = period.endsAt - (Date.now() + state.clockOffsetMs);
      const verb = period.id === "all" ? "ends" : "resets";
      ends = left > 0 ? `${verb} in ${formatCountdown(left)}` : "ended";
    }
    periodEl.textContent = [name, ends].filter(Boolean).join(" · ");
    periodEl.dataset.period = period.id;
    periodEl.title = period.endsAt === null ? "" : `Until ${new Date(period.endsAt).toLocaleString()}`;
  }

  function renderUpdated() {
    if (state.past) {
      updatedEl.textContent = "";
      updatedEl.title = "";
      return;
    }
    if (!state.lastUpdateAt) {
      updatedEl.textContent = state.snapshot === null ? "Waiting for the first scores…" : "";
      updatedEl.title = "";
      return;
    }
    const seconds = Math.round((Date.now() - state.lastUpdateAt) / 1000);
    const clock = state.lastUpdateAt.toLocaleTimeString();
    updatedEl.textContent = `Updated ${clock}${seconds >= 2 ? ` · ${seconds}s ago` : " · just now"}`;
    updatedEl.dataset.version = state.snapshot ? String(state.snapshot.version) : "";
    updatedEl.title = state.snapshot ? `Generated ${state.snapshot.generated_at}` : "";
  }

  // ---- leaderboards ------------------------------------------------------------------------

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    return params.get("leaderboard");
  }

  async function loadLeaderboards() {
    let list = [];
    try {
      const response = await fetch(apiUrl("api/leaderboards"), { headers: { Accept: "application/json" } });
      if (response.ok) list = (await response.json()).leaderboards;
    } catch (error) {
      return; // offline: keep the current list; the status shows the connection state
    }
    state.playerCounts = new Map(list.map((board) => [board.id, board.players]));
    state.boards = new Map(
      list.map((board) => [
        board.id,
        { title: board.title, format: board.format, period: board.period, period_ends_at: board.period_ends_at },
      ]),
    );
    const ids = list.map((board) => board.id);
    if (state.leaderboard && !ids.includes(state.leaderboard)) ids.unshift(state.leaderboard);
    const current = [...selectEl.options].map((option) => option.value);
    if (current.join("\n") !== ids.join("\n")) {
      selectEl.replaceChildren(
        ...ids.map((id) => {
          const option = document.createElement("option");
          option.value = id;
          option.textContent = id;
          return option;
        }),
      );
    }
    for (const option of selectEl.options) {
      const players = state.playerCounts.get(option.value);
      const title = (state.boards.get(option.value) || {}).title || option.value;
      option.textContent = players === undefined ? title : `${title} (${numbers.format(players)})`;
    }
    if (state.leaderboard) selectEl.value = state.leaderboard;
    if (state.leaderboard && !state.snapshot) describeBoard(null);
    renderPlayers();
    return ids;
  }

  function renderPlayers() {
    if (state.past) return; // the past period's count is shown
    const players = state.playerCounts.get(state.leaderboard);
    $("#stat-players").textContent = players === undefined ? "–" : numbers.format(players);
  }

  function choose(leaderboard) {
    if (leaderboard === state.leaderboard) return;
    state.leaderboard = leaderboard;
    state.snapshot = null;
    state.latest = null;
    state.past = null;
    state.periods = [];
    periodPicker.hidden = true;
    backToLive.hidden = true;
    state.lastUpdateAt = null;
    state.moves.clear();
    state.attempt = 0;
    boardEl.replaceChildren();
    describeBoard(null);
    history.replaceState(null, "", `#leaderboard=${encodeURIComponent(leaderboard)}`);
    try {
      localStorage.setItem("leaderboard", leaderboard);
    } catch (error) {
      // private mode: not remembered, fine
    }
    if (![...selectEl.options].some((option) => option.value === leaderboard)) {
      const option = document.createElement("option");
      option.value = leaderboard;
      option.textContent = leaderboard;
      selectEl.prepend(option);
    }
    selectEl.value = leaderboard;
    renderPlayers();
    renderUpdated();
    if (state.lookup) showLookingUp(state.lookup);
    state.lookupRank = null;
    connect(); // watching the looked-up player on this board too
    loadPeriods();
  }

  // ---- player lookup --------------------------------------------------------------------------

  function showLookingUp(playerId) {
    lookupResult.innerHTML = `<p class="hint">Looking up ${escapeHtml(playerId)}…</p>`;
  }

  // Watch `playerId` from now on: a new socket asks for it, and its first `player`
  // message (right after hello) shows it; later ones follow every change.
  function lookup(playerId) {
    playerId = playerId.trim();
    if (!playerId) return;
    if (!PLAYER_ID.test(playerId)) {
      lookupResult.innerHTML =
        `<p class="error" data-testid="lookup-error">not a player id: use 1-128 of A-Z a-z 0-9 . _ : @ -</p>`;
      return;
    }
    for (const row of boardEl.children) row.classList.toggle("looked-up", row.dataset.player === playerId);
    if (playerId === state.lookup && state.socket) return; // already watched
    const live = statusEl.dataset.state === "live";
    state.lookup = playerId;
    state.lookupRank = null;
    showLookingUp(playerId);
    state.attempt = 0;
    connect({ keepStatus: live });
  }

  function renderLookup(message) {
    if (message.rank === null) {
      state.lookupRank = null;
      lookupResult.innerHTML = `<p class="hint" data-testid="lookup-missing">${escapeHtml(
        `player '${message.player_id}' has no score on leaderboard '${message.leaderboard}' yet`,
      )}</p>`;
      return;
    }
    const name = message.display_name || message.player_id;
    const rows = message.entries
      .map((entry) => {
        const mine = entry.player_id === message.player_id;
        const label = entry.display_name || entry.player_id;
        return `<li class="${mine ? "me" : ""}" data-rank="${entry.rank}">
          <span class="n-rank">#${entry.rank}</span>
          <span class="n-name" title="${escapeHtml(entry.player_id)}">${escapeHtml(label)}</span>
          <span class="n-score">${escapeHtml(formatScore(entry.score))}</span></li>`;
      })
      .join("");
    const previous = state.lookupRank;
    state.lookupRank = message.rank;
    lookupResult.innerHTML = `
      <div class="lookup-summary" data-player="${escapeHtml(message.player_id)}" data-rank="${message.rank}">
        <div class="big-rank"><small>Rank</small>#${numbers.format(message.rank)}</div>
        <div class="who"><strong>${escapeHtml(name)}</strong>
          <span>${escapeHtml(scoreWords(message.score))} · of ${numbers.format(message.total)} players</span></div>
      </div>
      <ol class="neighbours" aria-label="Neighbours">${rows}</ol>`;
    if (previous !== null && previous !== message.rank) {
      const summary = lookupResult.querySelector(".lookup-summary");
      restartAnimation(summary, previous > message.rank ? "climbed" : "fell");
    }
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  // ---- start ------------------------------------------------------------------------------------

  selectEl.addEventListener("change", () => choose(selectEl.value));
  periodSelect.addEventListener("change", () => showPast(periodSelect.value));
  backToLive.addEventListener("click", backToLiveView);
  window.addEventListener("hashchange", () => {
    const wanted = readHash();
    if (wanted) choose(wanted);
  });
  lookupForm.addEventListener("submit", (event) => {
    event.preventDefault();
    lookup(lookupInput.value);
  });
  // Back online or back to the tab: do not wait out a long backoff.
  const reconnectNow = () => {
    if (!state.socket && state.leaderboard) {
      state.attempt = 0;
      connect();
    }
  };
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });

  setInterval(() => {
    renderUpdated();
    renderPeriod();
    renderRetry();
    if (state.snapshot) {
      // Let the movement arrows fade once they are old.
      for (const row of boardEl.children) {
        const recent = state.moves.get(row.dataset.player);
        if (recent && Date.now() - recent.at >= MOVE_VISIBLE_MS) {
          const move = row.querySelector(".move");
          move.className = "move";
          state.moves.delete(row.dataset.player);
        }
      }
    }
    $("#footer-clock").textContent = new Date().toLocaleTimeString();
  }, 1000);
  setInterval(loadLeaderboards, LIST_REFRESH_MS);
  setInterval(() => state.leaderboard && loadPeriods(), LIST_REFRESH_MS);

  (async () => {
    const ids = (await loadLeaderboards()) || [];
    let stored = null;
    try {
      stored = localStorage.getItem("leaderboard");
    } catch (error) {
      stored = null;
    }
    const wanted =
      readHash() || (stored && ids.includes(stored) ? stored : null) || (ids.includes("global") ? "global" : ids[0]) || "global";
    choose(wanted);
  })();
})();
