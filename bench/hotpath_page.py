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
        "asgi": "Starlette on uvicorn (websockets-sansio), the gateway's stack",
        "websockets": "websockets' own server (`ws.send`)",
        "prebuilt": "websockets' server, frame bytes built once (`transport.write`)",
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
            f"**{data['asgi_to_websockets_idle_ratio']}x**. Nothing was switched on these "
            "numbers yet (issue 18's first slice only measures them).",
            "",
            _reading(data["systems"]),
        ]
    )


def _reading(systems: dict[str, Any]) -> str:
    asgi, ws, pre = systems["asgi"], systems["websockets"], systems["prebuilt"]
    saved = asgi["cpu_us_per_frame"] - pre["cpu_us_per_frame"]
    kib = asgi["idle"]["kib_per_conn"] - ws["idle"]["kib_per_conn"]
    return (
        f"Read against the relay: frames built once and written below the ASGI path would "
        f"save about {saved:.1f} µs per frame here, {2 * saved:.0f} µs for the two frames "
        "of a relayed message (five before issue 18), a small part of the gateway's CPU per message in the table "
        "above; serving the sockets with the websockets library's own server would save "
        f"about {kib:.0f} KiB per idle socket against this Starlette-routed server (the "
        "gateway's own sockets skip Starlette's router since, which recovers about half of "
        "it: see *Idle connections*). In the relay a write costs more than in this "
        "burst (the reader sleeps between messages, so each write wakes it), which is why "
        "uvicorn's `transport.write` line leads the relay's self time."
    )
