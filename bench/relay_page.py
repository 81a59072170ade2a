"""The relay's sections of docs/benchmarks.md (bench/report.py puts the page together):
the systems side by side, issue 18's goals, the CPU per message split per process, what
the rate limits cost, every step, and where the processes ran."""

from __future__ import annotations

from typing import Any

from bench.page import _met, _ms, _n, _table
from bench.relay import SYSTEMS, cpu_by_rate

SYSTEM_ORDER = SYSTEMS  # the page lists the systems in the order the relay runs them
LABELS = {
    "gateway": "gateway",
    "gateway-nolimits": "gateway, rate limits off",
    "gateway-2n": "gateway x2 + Redis + PostgreSQL",
    "ws": "websockets (bare)",
    "ws-sqlite": "websockets + SQLite",
    "sio": "python-socketio x2 + Redis",
    "channels": "Django Channels + Redis",
}


def _knee(s: dict[str, Any]) -> str:
    knee = s.get("knee")
    if knee is None:
        return "—"
    if knee["found"]:
        why = "by p99" if knee["why"] == "p99" else "delivered < 90 % of offer"
        if "lowest_offered" in knee:
            why += f", at every rate down to {knee['lowest_offered']:,} msg/s"
        return why
    return "**none**: " + str(knee["why"])


def at_knee(s: dict[str, Any], limit_ms: float) -> Any:
    """Server CPU per message at the highest sustained rate (read off the steps for a
    run that did not record it)."""
    if "server_cpu_us_per_msg_at_sustained" in s:
        return s["server_cpu_us_per_msg_at_sustained"]
    ok = [
        st
        for st in s.get("steps", [])
        if st["p99_ms"] is not None
        and st["p99_ms"] <= limit_ms
        and st["delivered_msgs_per_s"] >= 0.9 * st["offered_msgs_per_s"]
    ]
    best = max(ok, key=lambda st: st["delivered_msgs_per_s"], default=None)
    return best.get("server_cpu_us_per_msg") if best else None


def _load(load: dict[str, Any] | None) -> str:
    if not load or not load.get("start"):
        return ""

    def fmt(xs: list[float] | None) -> str:
        return " / ".join(f"{x:.2f}" for x in xs) if xs else "—"

    return (
        f" Load average (1 / 5 / 15 min) at the start of the run {fmt(load['start'])}, at its "
        f"end {fmt(load.get('end'))}."
    )


def goal_rows(relay: dict[str, Any]) -> list[list[str]]:
    """Issue 18's goals, for the page's table of goals."""
    goals = relay.get("goals", {})
    rows: list[list[str]] = []
    g = goals.get("gateway_2n_3x_sio_2n")
    if g:
        rows.append(
            [
                "issue 18: 2 gateway nodes + Redis + PostgreSQL ≥ 3x python-socketio's 2 nodes "
                "+ Redis (same cores)",
                f"{_n(g['ratio'], 2)}x" + (f" ({g['note']})" if g.get("note") else ""),
                _met(g["met"]),
            ]
        )
    g = goals.get("gateway_quarter_of_ws")
    if g:
        rows.append(
            [
                "issue 18: 1 node on SQLite ≥ 0.25x the bare websockets relay",
                f"{_n(g['ratio'], 3)}x" + (f" ({g['note']})" if g.get("note") else ""),
                _met(g["met"]),
            ]
        )
    g = goals.get("gateway_10000_msgs_per_s_one_core")
    if g:
        rows.append(
            [
                f"issue 18: 1 node on SQLite ≥ {_n(g['goal_msgs_per_s'])} msg/s, "
                f"≤ {_n(g['goal_cpu_us_per_msg'])} µs server CPU per message at its knee",
                f"{_n(g['msgs_per_s'])} msg/s, {_n(g['cpu_us_per_msg_at_sustained'])} µs/msg",
                _met(g["met"]),
            ]
        )
    return rows


def _repeated(systems: dict[str, Any]) -> str:
    """The steps this run ran twice, and how each run came out."""
    said = []
    for name in SYSTEM_ORDER:
        steps = systems.get(name, {}).get("steps", [])
        for i, s in enumerate(steps):
            if s.get("repeated") and i + 1 < len(steps):
                again = steps[i + 1]
                said.append(
                    f"{name} at {_n(s['offered_msgs_per_s'])} msg/s (p99 {_p99(s)}, "
                    f"then {_p99(again)})"
                )
    if not said:
        return " No step was run twice in this run."
    return " Run twice in this run: " + "; ".join(said) + "."


def _p99(step: dict[str, Any]) -> str:
    # None: more than 1 % of the step's messages lost, so p99 is past any limit
    return f"{_ms(step['p99_ms'])} ms" if step["p99_ms"] is not None else "over 1 % lost"


def _client_ids(data: dict[str, Any]) -> str:
    """What the gateway's clients sent as message ids: UUIDv7s as the widget's since
    2026-12-04; shorter ids in the runs before (their rows and frames were smaller)."""
    if data.get("client_msg_ids") == "uuid7":
        return (
            " (the gateway's clients send UUIDv7 message ids, 36 characters, as the widget "
            "and the console do: docs/store.md, *The idempotency index*)"
        )
    return (
        " (the gateway's clients sent message ids of about 8 characters, as the runs "
        "before 2026-12-04 did; the widget's are 36)"
    )


def section(data: dict[str, Any], side: dict[str, Any] | None = None) -> str:
    """The relay's results; a ``label`` in the JSON (say, that it was measured on a busy
    machine and is not the published figure) heads the section in bold."""
    systems = data.get("systems", {})
    cfg = data.get("config", {})
    where = data.get("placement", {}).get("note")
    out = []
    if data.get("label"):
        out += [f"**{data['label']}**", ""]
    out += [
        f"{_n(cfg.get('conversations'))} conversations, each a visitor socket and an agent "
        f"socket ({_n(cfg.get('per_agent'))} conversations per agent socket), "
        f"{data.get('body_bytes', 100)}-byte messages, visitors and agents in turn"
        + _client_ids(data)
        + ". The offered "
        f"rate steps up x1.5 every {cfg.get('duration_s')} s (then two finer steps at the "
        f"knee) until p99 passes {data.get('p99_limit_ms', 250):g} ms or less than 90 % of the "
        "offer is delivered (the knee); a system past its knee at the first rate is "
        "offered half of it, then half again, down to an eighth, until a step holds. A "
        "message lost or not there by the end of its step counts as late. A step that "
        "fails by p99 alone (all its offer delivered) is run once more after the servers "
        "settle, and the second run decides (twice per system at most): "
        "a stall that comes once a minute (PostgreSQL's autovacuum, a neighbour's burst) "
        "puts a few percent of a 3 s step's messages past the limit, but a fraction of a "
        "percent of a minute's; a system past its capacity fails again."
        + _repeated(systems)
        + " Latency: from the moment a message was "
        "scheduled to leave the sender until the other side's socket has it. *Generators "
        "busy* is the load generators' CPU share of their core at the sustained rate: near "
        "1 the knee would be theirs, not the server's. Server CPU is that of every server "
        "process of the system (its nodes, Redis, PostgreSQL); *at knee* is the figure at "
        "the highest sustained rate, the other the median of the steps under the knee. "
        "PostgreSQL runs as in the test services, with fsync and synchronous_commit off: "
        "every message is committed before its ack, but the flush to disk of each commit "
        "is not in these figures (`./scripts/bench appends` measures a durable server "
        "beside it, docs/store.md)."
        + (f" Where the processes ran: {where}." if where else "")
        + _load(data.get("loadavg")),
        "",
    ]
    rows = []
    for name in SYSTEM_ORDER:
        s = systems.get(name)
        if s is None:
            continue
        if "error" in s:
            rows.append([LABELS[name], "failed: " + s["error"][:120], *[""] * 7])
            continue
        ratio = data.get(f"gateway_to_{name}_ratio")
        rows.append(
            [
                data.get("names", {}).get(name, LABELS[name]),
                _n(s["sustained_msgs_per_s"]),
                _ms(s["p50_ms_at_sustained"]),
                _ms(s["p99_ms_at_sustained"]),
                _n(s.get("server_cpu_us_per_msg")),
                _n(at_knee(s, data.get("p99_limit_ms", 250))),
                _knee(s),
                _n(s.get("generator_busy_at_sustained"), 2),
                "—" if ratio is None else f"{_n(ratio, 3)}x",
            ]
        )
    head = ["system", "sustained msg/s", "p50 ms", "p99 ms", "server CPU µs/msg"]
    head += ["at knee", "knee", "generators busy", "gateway (1 node) ÷ this"]
    out.append(_table(head, rows))
    if data.get("gateway_2n_to_sio_ratio") is not None:
        note = data.get("gateway_2n_to_sio_ratio_note")
        out += [
            "",
            "Two gateway nodes + Redis + PostgreSQL ÷ python-socketio's two nodes + Redis, "
            f"sustained rate: **{_n(data['gateway_2n_to_sio_ratio'], 2)}x**"
            + (f" ({note})" if note else "")
            + ".",
            "",
            SPREAD_2N,
        ]
    if data.get("gateway_to_ws_ratio") is not None:
        out += ["", SPREAD_1N]
    if floor := durability_floor(data):
        out += ["", floor]
    out += ["", split(systems), "", rate_limits(data), "", side_by_side(side or {})]
    out += [
        "",
        "![p99 against the offered rate](benchmarks/relay-latency.png)",
        "",
        "![sustained rate and CPU per message](benchmarks/relay-throughput.png)",
        "",
        "Every step, per system (delivered = received within the step ÷ its length; "
        "CPU = user + system time of the server processes, Redis and PostgreSQL included):",
        "",
        steps(systems),
    ]
    return "\n".join(out)


def split(systems: dict[str, Any]) -> str:
    """Server CPU per message, per process, for the systems of several processes."""
    rows = []
    for name in SYSTEM_ORDER:
        by = systems.get(name, {}).get("cpu_us_per_msg_by_process") or {}
        if len(by) < 2 or all(v is None for v in by.values()):
            continue
        total = sum(v for v in by.values() if v is not None)
        for part, us in by.items():
            share = f"{100 * us / total:.0f} %" if us is not None and total else "—"
            rows.append([LABELS[name], part, _n(us), share])
    if not rows:
        return "No CPU split per process in this run (the relay records it since issue 18)."
    return (
        "Server CPU per message, process by process (median of the steps under the knee): "
        "the gateway's two nodes against python-socketio's, with what Redis and PostgreSQL "
        "add.\n\n" + _table(["system", "process", "CPU µs/msg", "share"], rows) + "\n\n" + IDLE
    )


IDLE = """\
**The two nodes with no traffic, and the ramp's first steps.** `./scripts/bench
relay-idle` sets `gateway-2n` up as the relay does (1,000 conversations held, the same
pinning) and then sends nothing: it reads each server process's CPU from /proc over four
5-second windows, and Redis's commands and PostgreSQL's statements per second over the
last (`BENCH_IDLE_PYSPY=DIR` also records both nodes with py-spy then;
`BENCH_GATEWAY_SOURCE` runs another checkout's nodes). Held idle, the two nodes, Redis
and PostgreSQL use about 2 % of a core together (node A, with the 1,000 visitor sockets,
most of it: their keepalive pings; a few Redis commands a second for the router's lease
and presence; about one PostgreSQL transaction a second for the outbox). The CPU per
message that falls as the rate rises is therefore not a background cost. Part of it is
the wake-ups a message costs four processes sharing one core, which fewer messages share
when they come further apart (a batch at 3,000 msg/s carries about eleven messages in
one PostgreSQL statement). The rest, in the ramp's first steps, was the first message of each
conversation on each node, which a node read from PostgreSQL one round trip at a time:
the router's leader now sends the owner's node the row with the assignment, and a row
still `new` is no longer kept (docs/store.md); how those were found, and what they
changed, is in [the relay's sittings](benchmarks-relay.md), *The ramp's first steps*.
"""


def rate_limits(data: dict[str, Any]) -> str:
    lim = data.get("rate_limits")
    if not lim:
        before = (
            ""
            if data.get("placement")
            else "; this run predates it, its gateway ran with every limiter off"
        )
        return (
            "No run of the gateway with its rate limits off in these results: what the "
            f"limits cost is measured since issue 18, the `gateway-nolimits` row{before}."
        )
    rows = [
        ["on (as shipped)", _n(lim["on_msgs_per_s"]), _n(lim["on_cpu_us_per_msg"])],
        ["off", _n(lim["off_msgs_per_s"]), _n(lim["off_cpu_us_per_msg"])],
    ]
    return (
        "**What the rate limits cost** (one node on SQLite): every limiter on, each limit "
        "set above what the benchmark does from its one address so that every frame is "
        "counted and checked and none refused (bench/gateway_setup.py `RATE_LIMITS_ON`), "
        "against every limiter off. On ÷ off, sustained rate: "
        f"**{_n(lim['on_to_off_ratio'], 2)}x**; CPU added per message: "
        f"**{_n(lim['cpu_us_per_msg_added'], 1)} µs** between the medians of their steps under "
        "the knee, "
        f"**{_n(lim.get('cpu_us_per_msg_added_same_rates'), 1)} µs** at the rates both relayed "
        f"({', '.join(_n(r) for r in lim.get('same_rates', [])) or 'none'} msg/s; the fairer "
        "figure: CPU per message falls as the rate rises, and on a shared machine a knee "
        "moves with the neighbours' load).\n\n"
        + _table(["rate limits", "sustained msg/s", "server CPU µs/msg"], rows)
    )


# The method's own drift: the same code on both sides (a run by hand, not this page's).
SIDE_NULL = (
    "How far two sides apart can read with nothing between them: the same checkout on "
    "both (`BENCH_SIDE_B_SOURCE` set to it, every limiter on for both), right after each "
    "of three runs of the limits' comparison on 2026-12-04. B ÷ A at 3,000, 5,000 and "
    "7,000 msg/s, the same code: 1.013, 0.994, 0.936 (12:48 UTC, each step then waiting "
    "only for its own node to settle), 1.003, 1.006, 0.977 (13:28) and 0.996, 0.984, "
    "1.002 (13:45, in a slower hour: 5,000 msg/s was past the knee); the limits off on B: "
    "1.004, 1.054, 1.063 (12:44), 0.972, 0.986, 1.048 (13:25) and 1.00, 0.89, 1.02 "
    "(13:42, the table above; a lint and a short test ran beside its first round). So one "
    "sitting's same-code reading moves by up to about 6 "
    "%, and the limits' by up to 11 % in either direction, with no direction kept from one "
    "sitting to the next: what the rate limits cost is under what this machine resolves "
    "(the per-socket frame limit is a few arithmetic operations a frame, "
    "gateway/web/limits.py), and the difference between the `gateway` and "
    "`gateway-nolimits` rows above is the minutes between them."
)


def side_by_side(data: dict[str, Any]) -> str:
    """``./scripts/bench side-by-side``: two warm one-node gateways, fixed steps in turn
    (bench/side_by_side.py); by default the rate limits on (A) and off (B)."""
    if not data.get("rates"):
        return (
            "No side-by-side run in these results (`./scripts/bench side-by-side`: the "
            "limits on and off at the same rates, in turn)."
        )
    sides = data["sides"]
    rows = []
    for r in data["rates"]:
        cpu, p99 = r["cpu_us_per_msg"], r["p99_ms"]
        rows.append(
            [
                _n(r["offered_msgs_per_s"]),
                _n(cpu["A"], 1),
                _n(cpu["B"], 1),
                _n(r["b_to_a"], 3),
                f"{r['b_lower_in']} of {r['rounds']}",
                ", ".join(_ms(x) for x in p99["A"]),
                ", ".join(_ms(x) for x in p99["B"]),
                f"{_n(r['lost']['A'])} / {_n(r['lost']['B'])}",
            ]
        )
    ratios = [r["b_to_a"] for r in data["rates"] if r["b_to_a"] is not None]
    spread = f"{min(ratios):.2f} to {max(ratios):.2f}" if ratios else "—"
    lower = sum(r["b_lower_in"] for r in data["rates"])
    rounds = sum(r["rounds"] for r in data["rates"])
    return (
        f"**Side by side** (`./scripts/bench side-by-side`, {data.get('date', '')}, load "
        f"average {_load_avg(data.get('loadavg'))} at its end): the knees above were found "
        "minutes apart, one system after the other, and a knee moves with the machine's "
        "load; here two one-node gateways are set up as the relay sets its one up "
        f"({_n(data['conversations'])} conversations), both kept warm, and fixed steps of "
        f"{data['duration_s']:g} s go to one and then the other, the order swapped each "
        f"round, {data['rounds']} rounds. A: {sides['A']}; B: {sides['B']}. Server CPU "
        f"per message, medians of the rounds; B ÷ A from {spread}, B the lower in {lower} "
        f"of {rounds} pairs of steps. Its p99s do not compare with the ramp's (longer steps, "
        "after every round's first the steps past the knee of the round before, the other "
        "gateway holding its sockets on the same core): it reads the CPU a message, not "
        "the latency.\n\n"
        + _table(
            [
                "msg/s",
                "A µs/msg",
                "B µs/msg",
                "B ÷ A",
                "B lower",
                "A p99 ms (rounds)",
                "B p99 ms (rounds)",
                "lost A / B",
            ],
            rows,
        )
        + "\n\n"
        + SIDE_NULL
    )


def _load_avg(load: Any) -> str:
    return f"{load[0]:.1f}" if isinstance(load, list | tuple) and load else "—"


def steps(systems: dict[str, Any]) -> str:
    rows = []
    for name in SYSTEM_ORDER:
        s = systems.get(name)
        if not s or "steps" not in s:
            continue
        for st in sorted(s["steps"], key=lambda x: x["offered_msgs_per_s"]):
            rows.append(
                [
                    LABELS[name],
                    _n(st["offered_msgs_per_s"]) + (" (run again)" if st.get("repeated") else ""),
                    _n(st["delivered_msgs_per_s"]),
                    _ms(st["p50_ms"]),
                    _ms(st["p99_ms"]),
                    _n(st["lost"]),
                    _n(st.get("server_cpu_us_per_msg")),
                    f"{st.get('server_cpu_utilisation', 0):.2f}",
                ]
            )
    head = ["system", "offered/s", "delivered/s", "p50 ms", "p99 ms", "lost", "CPU µs/msg"]
    return _table([*head, "CPU cores busy"], rows)


def pinning(data: dict[str, Any]) -> str:
    """Where the processes ran, and what pinning changes."""
    where = data.get("placement")
    earlier = (
        "In an earlier run of the same workload on this machine (with other work beside it, "
        "so not comparable figure by figure) the servers were pinned to core 0 and the "
        "generators to core 1: the gateway sustained 675 msg/s there against 1,681 to 2,278 "
        "unpinned (its SQLite thread then shares the event loop's core), python-socketio 675 "
        "against 1,519, Django Channels 675 against 914, and the bare websockets peer, which "
        "then had a core to itself, more than 58,000 against about 10,000."
    )
    if not where or where.get("server_cpus") is None:
        return (
            "**Pinning, and how much the ceiling moves.** In this run the servers were not "
            "pinned" + (f" ({where['note']})" if where else "") + ": they shared both cores, "
            "less what the generators took. " + earlier + " The ratio to the websockets "
            "ceiling therefore depends as much on where its one process is scheduled as on "
            "the gateway; the ratios to python-socketio and Channels, whose servers share "
            "cores with Redis either way, move far less. Since issue 18 the relay pins the "
            "servers by default (below).\n\n" + PINNED
        )
    return f"**Pinning.** Where the processes ran in this run: {where['note']}.\n\n" + (
        PINNED + "\n" + earlier + "\n"
    )


PINNED = """\
Since issue 18 every server process of a system (its nodes, Redis, PostgreSQL, every
thread of each) is pinned to the same core(s) and the load generators to the other,
the same way for every system (`bench/pinning.py`; on by default where
`os.sched_setaffinity` exists; `--no-pin` or `BENCH_PIN=0` leaves the servers to the
scheduler). On
two cores the servers get one: a system that spreads over more processes (two nodes,
Redis, PostgreSQL) gets no more CPU than one process, so the two-node comparison with
python-socketio is like for like, and the one-node gateway is measured on the one core
issue 18's 10,000 msg/s goal names. Three rows come with it: `gateway-2n` (two gateway
nodes on Redis and PostgreSQL, visitors on node A and agents on node B, so every
message crosses the bus and is committed to PostgreSQL before its ack), the split of
its server CPU per process beside python-socketio's, and `gateway-nolimits`, the
one-node gateway with every rate limiter off, so that the main rows keep the limits on
and their cost is read apart.
"""


# How far the one-node ratio moved between sittings of 2026-12-03 to 2026-12-05.
SPREAD_1N = (
    "How far the one-node ratio moves here (the gateway on SQLite ÷ the bare websockets "
    "relay; issue 18's goal is 0.25x). In seventeen sittings from 2026-12-03 to 2026-12-05 "
    "it ran from 0.132x to 0.268x, median 0.198x, and held the goal once, in the sitting "
    "where the bare relay's knee came lowest (19,146 msg/s; from 19,146 to 38,924 in "
    "all). The gateway's knee was 5,126 msg/s in nine of the seventeen and 6,948 at most "
    "(142 µs a message, 2026-12-04 09:21 UTC, a faster hour of the machine); the absolute "
    "form of the goal (10,000 msg/s at 100 µs a message) was met in none. Each sitting, "
    "with its command, its load and the code it ran, is in [the relay's sittings]"
    "(benchmarks-relay.md)."
)


def durability_floor(data: dict[str, Any]) -> str:
    """The one-node gateway beside the bare relay that commits to SQLite before its ack
    (bench/peers/ws_sqlite_server.py): what durability alone costs in Python."""
    systems = data.get("systems", {})
    gw, floor, bare = (systems.get(n, {}) for n in ("gateway", "ws-sqlite", "ws"))
    rate, floor_rate = gw.get("sustained_msgs_per_s"), floor.get("sustained_msgs_per_s")
    if not rate or not floor_rate:
        return ""
    limit = data.get("p99_limit_ms", 250)
    bare_rate = bare.get("sustained_msgs_per_s")
    of_bare = f" ({_n(floor_rate / bare_rate, 3)}x the bare relay)" if bare_rate else ""
    return (
        "**The floor of durability.** `websockets + SQLite` is the bare relay with the one "
        "thing issue 18's one-node goal keeps: every message committed to SQLite (WAL, "
        "`synchronous=NORMAL`, as the gateway's store) before it is relayed, and "
        "acknowledged to its sender, two frames a message as the gateway sends "
        "(bench/peers/ws_sqlite_server.py, 134 lines: a row keyed by room and "
        "seq with a unique time-ordered id, the room's counter written, the messages of "
        "one turn of the event loop in one transaction, SQLite's own checkpoints; no "
        "authentication, routing, unread counts, retries, rate limits or metrics). In this "
        f"run it sustained {_n(floor_rate)} msg/s at {_n(at_knee(floor, limit))} µs of CPU a "
        f"message at its knee{of_bare}; the gateway {_n(rate)} at "
        f"{_n(at_knee(gw, limit))} µs, {_n(rate / floor_rate, 3)}x the floor's rate."
        + _over_floor(gw, floor)
        + " "
        + FLOOR_READING
    )


def _over_floor(gw: dict[str, Any], floor: dict[str, Any]) -> str:
    """The gateway's CPU a message ÷ the floor's, at the rates both were offered."""
    mine, theirs = cpu_by_rate(gw), cpu_by_rate(floor)
    pairs = [
        (rate, mine[rate], theirs[rate])
        for rate in sorted(mine.keys() & theirs.keys())
        if mine[rate] and theirs[rate]
    ]
    if not pairs:
        return ""
    ratios = [a / b for _, a, b in pairs]
    extra = [a - b for _, a, b in pairs]
    return (
        f" At the {len(pairs)} rates both were offered ({_n(pairs[0][0])} to "
        f"{_n(pairs[-1][0])} msg/s) the gateway's CPU a message was {_n(min(ratios), 2)} to "
        f"{_n(max(ratios), 2)} times the floor's, {_n(min(extra))} to {_n(max(extra))} µs "
        "more: its own work."
    )


FLOOR_READING = (
    "So committing before the ack costs a Python relay on this machine about what the goal "
    "allows for everything (10,000 msg/s at 100 µs a message), before any of the "
    "product's own work, and the floor itself did not reach the goal's rate. In the run "
    "of 18:02 UTC (this page's) it used the whole core past its knee: 102 to 108 µs a "
    "message at 9,417 msg/s and 90 to 94 at 11,533, everything delivered, p99 755 to "
    "1,192 ms. In its first sitting (2026-12-04, 18:00 UTC, `BENCH_RELAY_SYSTEMS="
    "ws-sqlite`, minutes after the bare relay's knee had come at 21,188 msg/s) it "
    "sustained 6,948 msg/s at 120 µs a message and failed at 7,689 (p99 381 and 407 ms) "
    "at 115 to 117. The gateway's distance to the goal is the floor's plus its own work a "
    "message (sessions, the conversation's rules, unread counts, idempotent retries, the "
    "limits, metrics, notifications), which *Where the time goes* below measures."
)


# How far the two-node ratio moved between sittings of the same code: the page's one
# run is not the whole story (docs/benchmarks.md, read beside the ratio).
SPREAD_2N = (
    "How far this ratio moves here. Since 2026-12-01 22:00 UTC a step that fails by p99 "
    "alone is run once more and the second run decides (above); before, a one-off stall "
    "in a 3 s step (PostgreSQL's autovacuum, a neighbour's burst) set either system's "
    "knee as often as its capacity did, and the ratio ran from 0.74x to 5.61x in eight "
    "sittings that day. In twenty-three sittings under that rule, 2026-12-01 to "
    "2026-12-04 (full runs and `BENCH_RELAY_SYSTEMS=gateway-2n,sio`), it ran from 2.03x to "
    "5.61x, median 4.13x, and held the goal in twenty-two: not in every sitting. What "
    "moves it now is mostly python-socketio: it collapses rather than slows (past its "
    "knee it delivers a fraction of the offer, 8 to 354 msg/s at 551 to 1,519 offered), "
    "and where the collapse comes varies between sittings, 450 to 1,240 msg/s within an "
    "hour. The ratio is read over sittings, not from one: each, with its command, its "
    "load and the code it ran, is in [the relay's sittings](benchmarks-relay.md)."
)
