"""docs/benchmarks.md's sections on the hot path (issue 18): the gateway's knee and profile
before and after a change (``profile-before.json``, ``profile-after.json``, written by
``./scripts/bench profile``, bench/profile.py) and the socket layer alone
(``sockets.json``, bench/sockets.py)."""

from __future__ import annotations

from typing import Any


def _n(x: Any) -> str:
    return "—" if x is None else f"{x:,.0f}" if isinstance(x, int | float) else str(x)


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _own(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    skip = ("(gateway/cli.py", "(gateway/__main__.py")
    return [r for r in rows if "(gateway/" in r["frame"] and not any(k in r["frame"] for k in skip)]


def _side_by_side(before: list[dict[str, Any]], after: list[dict[str, Any]], n: int) -> str:
    rows = []
    for i in range(n):
        b = before[i] if i < len(before) else None
        a = after[i] if i < len(after) else None
        rows.append(
            [
                f"`{b['frame']}`" if b else "",
                str(b["share_pct"]) if b else "",
                f"`{a['frame']}`" if a else "",
                str(a["share_pct"]) if a else "",
            ]
        )
    return _table(["before", "%", "after", "%"], rows)


def profiles(
    before: dict[str, Any], after: dict[str, Any], again: tuple[dict[str, Any], ...] = ()
) -> str:
    """The knee and the top frames, before and after, from one sitting; ``again``: a
    second before and after of the same sitting (``profile-before2.json``, ...)."""
    if not before or not after:
        return (
            "No before/after profiles (`./scripts/bench profile`, bench/profile.py, writes "
            "`docs/benchmarks/profile-before.json` and `profile-after.json`)."
        )
    b, a = before["gateway"], after["gateway"]
    bp, ap = b.get("profile", {}), a.get("profile", {})
    out = [
        "The gateway alone under the relay load above (1,000 conversations, the same "
        "generators and steps), measured twice in one sitting: first the code before the "
        f"change (commit `{before.get('commit') or '?'}`, {before.get('date', '')}), then "
        f"after it (commit `{after.get('commit') or '?'}`, {after.get('date', '')}). "
        "Commands: `BENCH_GATEWAY_SOURCE=DIR ./scripts/bench profile --json "
        "docs/benchmarks/profile-before.json` (DIR: `git archive` of the commit before, "
        "unpacked), then `./scripts/bench profile --json docs/benchmarks/profile-after.json`.",
        "",
    ]
    rows = []
    for label, g, p in (("before", b, bp), ("after", a, ap)):
        d = p.get("during_step", {})
        rows.append(
            [
                label,
                _n(g.get("sustained_msgs_per_s")),
                _n(g.get("p99_ms_at_sustained")),
                _n(g.get("server_cpu_us_per_msg")),
                _n(d.get("offered_msgs_per_s")),
                _n(d.get("server_cpu_us_per_msg")),
                _n(p.get("samples")),
            ]
        )
    out.append(
        _table(
            [
                "code",
                "sustained msg/s",
                "p99 ms there",
                "CPU µs/msg (median under the knee)",
                "profiled at msg/s",
                "CPU µs/msg there",
                "samples",
            ],
            rows,
        )
    )
    bs, as_ = b.get("sustained_msgs_per_s"), a.get("sustained_msgs_per_s")
    if bs and as_:
        out += ["", f"After ÷ before, sustained rate: **{as_ / bs:.2f}x** (same sitting)."]
    if len(again) == 2 and all("gateway" in x for x in again):
        b2 = again[0]["gateway"].get("sustained_msgs_per_s")
        a2 = again[1]["gateway"].get("sustained_msgs_per_s")
        if b2 and a2:
            out[-1] += (
                f" Then once more, before and after again: {_n(b2)} and {_n(a2)} msg/s, "
                f"**{a2 / b2:.2f}x**. The machine is shared: the spread between the two "
                "pairs is how far one figure moves here."
            )
    if "self" in bp and "self" in ap:
        out += ["", "Self time (py-spy `--gil`), any code:", ""]
        out.append(_side_by_side(bp["self"], ap["self"], 12))
        out += ["", "The project's own frames, inclusive:", ""]
        out.append(_side_by_side(_own(bp["inclusive"]), _own(ap["inclusive"]), 12))
    return "\n".join(out)


def sockets(data: dict[str, Any]) -> str:
    if "systems" not in data:
        return "No socket-layer results (`./scripts/bench sockets --json docs/benchmarks/sockets.json`)."
    cfg = data["config"]
    rows = []
    names = {
        "asgi": "Starlette on uvicorn (websockets-sansio), as the gateway served its sockets "
        "before issue 18",
        "websockets": "websockets' own server (`ws.send`)",
        "prebuilt": "websockets' server, frame bytes built once (`transport.write`)",
        "gateway": "the gateway's path: uvicorn, its own protocol, frames built once "
        "(`write_frame`)",
    }
    for kind, s in data["systems"].items():
        rows.append(
            [
                names.get(kind, kind),
                f"{s['cpu_us_per_frame']}",
                _n(s["frames_per_s"]),
                f"{s['idle']['kib_per_conn']}",
                _n(s["idle"]["open"]),
            ]
        )
    return "\n".join(
        [
            f"One server process, nothing but WebSockets (bench/sockets.py, "
            f"`./scripts/bench sockets`): {cfg['conns']} sockets are each sent "
            f"{cfg['frames']:,} text frames of {data['frame_bytes']} bytes "
            f"({cfg['rounds']} rounds, the median shown), then {cfg['idle']:,} sockets stay "
            "idle. Same event loop (uvloop), no compression; CPU is the server's user + system "
            "time.",
            "",
            _table(
                ["server", "CPU µs/frame", "frames/s", "KiB per idle socket", "idle sockets"],
                rows,
            ),
            "",
            f"Starlette/uvicorn ÷ websockets: CPU per frame "
            f"**{data['asgi_to_websockets_cpu_ratio']}x**, memory per idle socket "
            f"**{data['asgi_to_websockets_idle_ratio']}x**."
            + (
                f" The gateway's path ÷ websockets: CPU per frame "
                f"**{data['gateway_to_websockets_cpu_ratio']}x**, memory per idle socket "
                f"**{data['gateway_to_websockets_idle_ratio']}x**."
                if "gateway" in data["systems"]
                else ""
            ),
            "",
            _reading(data["systems"]),
        ]
    )


def _reading(systems: dict[str, Any]) -> str:
    asgi, ws, pre = systems["asgi"], systems["websockets"], systems["prebuilt"]
    gw = systems.get("gateway")
    if gw is None:  # a run from before the gateway's row
        return "The gateway's own path was not measured in this run."
    cpu, kib = gw["cpu_us_per_frame"], gw["idle"]["kib_per_conn"]
    better = [
        what
        for what, worse in (
            ("CPU a frame", cpu > ws["cpu_us_per_frame"]),
            ("memory an idle socket", kib > ws["idle"]["kib_per_conn"]),
        )
        if worse
    ]
    verdict = (
        f"websockets' own server would do better on {' and '.join(better)}"
        if better
        else "neither would be smaller on websockets' own server"
    )
    return (
        "**What was chosen with these numbers** (issue 18: the ASGI path against the "
        "websockets library's own server). The gateway stays on uvicorn and took from the "
        "first three rows what they favour: its sockets are called straight from uvicorn "
        "(gateway/web/direct.py: no Starlette router or middleware kept alive per socket), "
        "its protocol class keeps less per socket and does less per frame than uvicorn's (the "
        "pings of every socket on one timer rather than a timer each, whole text frames read "
        "below websockets' parser: gateway/web/transport.py), and "
        "each frame is encoded once, framed once and written to the transport "
        "(`write_frame`; the frames one socket gets in one turn of the loop in one write). "
        f"The last row is that path: {cpu} µs a frame against "
        f"{ws['cpu_us_per_frame']} for websockets' `ws.send`, "
        f"{asgi['cpu_us_per_frame']} for Starlette's `send_text` and "
        f"{pre['cpu_us_per_frame']} for the bare `transport.write`, and {kib} "
        f"KiB an idle socket against {ws['idle']['kib_per_conn']} and "
        f"{asgi['idle']['kib_per_conn']} (the socket alone: *Idle connections* below "
        f"measures the gateway whole): {verdict}, and moving would have meant "
        "serving the HTTP side (the widget's and the console's pages, the API, the "
        "upgrade's checks) on another server. Each row lets the loop turn once a frame, as "
        "the relay's frames come; in the gateway's row two thirds of the server's samples "
        "are in the `write` system call (py-spy, 2026-12-04 21:16 UTC), which on loopback "
        "also wakes the reader, and which is why `uncork`'s write leads the relay's self "
        "time above (every row made one `write` a frame under `strace -c`, the same "
        "hour)."
    )


# Measured by hand in one sitting (bench/sqlite_appends.py has no JSON of its own): the
# A/B of the store's lane, kept as it was written when the slice landed.
SQLITE_LANE = """\
`BENCH_GATEWAY_SOURCE=/work/main ./scripts/bench sqlite-appends` (bench/sqlite_appends.py):
the store on a WAL file, 200 callers appending at once to their own conversations (25
rounds), then one caller alone; CPU of the whole process (event loop and the store's
threads) and wall time per message, the median of 5 steps, the two checkouts alternated
in one sitting (2026-12-01 06:14 UTC, load average 7.5 — a shared machine, so the ratio
is the figure, not the microseconds).

| code | 200 callers: CPU µs/msg | wall µs/msg | one caller: CPU µs/msg | wall µs/msg |
|---|---|---|---|---|
| before (main `de6349f`: one hop per batch to the writer's thread) | 50.1 | 136.3 | 149.6 | 458.7 |
| after (the batch inline on the event loop, at most 100 per transaction) | 48.7 | 87.2 | 116.5 | 137.0 |
| before ÷ after | 1.03 | 1.56 | 1.28 | 3.35 |

Two earlier sittings of the same A/B (before the 100-message cap, load 6.2 and 7.9)
gave before ÷ after CPU 1.12 and 1.10 with 200 callers, 1.21 and 1.35 for one caller;
wall 1.53 and 1.07, 1.53 and 1.40.

The wall time is where the thread cost most: while the writer's thread ran the batch's
Python it took the GIL from the event loop at each statement (SQLite releases it around
each step), so the loop waited for it. SQLite itself is a small part: on the same file,
one message's `INSERT … SELECT` and counter `UPDATE … RETURNING` cost about 13 µs of CPU
in a batch of 20 and about 27 µs in a transaction of its own (the `COMMIT` writes the
pages to the WAL; no fsync with `synchronous=NORMAL`). The relay (`./scripts/bench relay`,
the gateway alone, main and this branch alternated, load average 4 to 6) showed no
difference in CPU per message at equal rates within this machine's noise (this ÷ main
0.96 to 1.08 from 2,278 to 5,126 msg/s offered), but at 5,126 msg/s offered this branch
delivered all of them (p99 607 ms) where main delivered 4,176 and fell behind; a second
pair of runs was spoilt by another engineer's load (both stopped at 252 msg/s). Six
pairs in all (load average 4 to 9, bench/relay.py's `run_gateway` for each checkout in
turn): sustained msg/s main → this 914 → 252 (a test suite ran beside "this"), 610 →
675, 3,417 → 3,417, 252 → 252, 1,519 → 332, 551 → 332; median CPU µs/msg under the
knee 603 → 807, 609 → 474, 494 → 338, 759 → 558, 578 → 561, 563 → 492. The sustained
rate here is set by p99 spikes of hundreds of milliseconds to seconds at low rates,
which both sides showed; whether the inline `COMMIT` adds to them (docs/store.md, *the
trade-off*) needs a quiet machine to tell.
"""
