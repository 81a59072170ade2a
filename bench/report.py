"""Regenerate docs/benchmarks.md and its plots from the workloads' JSON figures.

``./scripts/bench report`` reads ``docs/benchmarks/*.json`` (written by
``./scripts/bench all``) and writes ``docs/benchmarks.md`` and ``docs/benchmarks/*.png``.
With ``--quick`` it reads and writes ``bench-results/quick/`` instead (the smoke run's).
Nothing in the page is typed by hand: edit the text here and run the command again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import attachments_page, hotpath_page, relay_page, relay_profile, webhooks
from bench.page import _met, _ms, _n, _table
from bench.relay import FULL as RELAY_FULL
from bench.relay import SYSTEMS as RELAY_SYSTEMS
from bench.relay import full_run_bound_s
from bench.relay_page import LABELS, SYSTEM_ORDER

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
DOC_DIR = ROOT / "docs" / "benchmarks"
QUICK_DIR = ROOT / "bench-results" / "quick"


def results_dir(quick: bool) -> Path:
    return QUICK_DIR if quick else DOC_DIR


def load(directory: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out[path.stem] = data
    return out


def run(quick: bool) -> dict[str, Any]:
    written = render(quick)
    return {"written": [str(p.relative_to(ROOT)) for p in written]}


def summary(result: dict[str, Any]) -> str:
    return "\n".join(f"wrote {p}" for p in result["written"])


# -- formatting helpers ----------------------------------------------------------------


# -- plots ----------------------------------------------------------------------------


def _plots(data: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the page is still written; the plots wait for matplotlib
        return []
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)

    relay = data.get("relay", {}).get("systems", {})
    if relay:
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        for name in SYSTEM_ORDER:
            s = relay.get(name)
            if not s or "steps" not in s:
                continue
            steps = sorted(s["steps"], key=lambda st: st["offered_msgs_per_s"])
            decided = [st for st in steps if not st.get("repeated")]
            (line,) = ax.plot(*_p99_points(decided), marker="o", label=LABELS[name])
            # a failed first run, run again (bench/ramp.py): a cross beside its line
            ax.plot(
                *_p99_points([st for st in steps if st.get("repeated")]),
                marker="x",
                linestyle="",
                color=line.get_color(),
            )
        limit = data["relay"].get("p99_limit_ms", 250)
        ax.axhline(
            limit, color="grey", linestyle="--", linewidth=1, label=f"p99 limit {limit:g} ms"
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered messages/s (100-byte messages)")
        ax.set_ylabel("p99 send → other side receives (ms)")
        ax.set_title("Relay: p99 latency as the rate steps up")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / "relay-latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        names = [n for n in SYSTEM_ORDER if n in relay and "sustained_msgs_per_s" in relay[n]]
        if names:
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
            vals = [relay[n]["sustained_msgs_per_s"] for n in names]
            a1.barh([LABELS[n] for n in names], vals, color="#1d4ed8")
            a1.set_xscale("log")
            a1.set_xlabel("sustained messages/s (p99 ≤ limit), log scale")
            a1.invert_yaxis()
            for i, v in enumerate(vals):
                a1.text(v, i, f" {v:,}", va="center", fontsize=8)
            cpu = [relay[n].get("server_cpu_us_per_msg") or 0 for n in names]
            a2.barh([LABELS[n] for n in names], cpu, color="#b45309")
            a2.set_xlabel("server CPU µs per message (Redis, PostgreSQL included)")
            a2.invert_yaxis()
            a2.set_yticklabels([])
            for i, v in enumerate(cpu):
                a2.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
            fig.suptitle("Relay: throughput and cost")
            fig.tight_layout()
            path = out_dir / "relay-throughput.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)

    idle = data.get("idle", {}).get("systems", {})
    if idle:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, s in idle.items():
            if "points" not in s:
                continue
            xs = [0] + [p["open"] for p in s["points"]]
            ys = [s["rss_start_bytes"] / 2**20] + [p["rss_bytes"] / 2**20 for p in s["points"]]
            per = s.get("rss_per_conn_bytes") or 0
            ax.plot(
                xs, ys, marker="o", label=f"{LABELS.get(name, name)}: {per / 1024:.1f} KiB/conn"
            )
        ax.set_xlabel("open idle connections")
        ax.set_ylabel("server RSS (MiB)")
        ax.set_title("Idle connections: resident memory of the server process")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / "idle-rss.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    cc = data.get("contact-center", {})
    if cc.get("steps"):
        fig, ax = plt.subplots(figsize=(7, 4))
        xs = [s["conversations"] for s in cc["steps"]]
        for key, label in (("to_agent_p50_ms", "p50"), ("to_agent_p99_ms", "p99")):
            ax.plot(
                xs,
                [s[key] if s[key] is not None else 1e4 for s in cc["steps"]],
                marker="o",
                label=label,
            )
        ax.axhline(cc.get("p99_limit_ms", 100), color="grey", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel(
            "concurrent conversations (one message every "
            f"{cc['config']['seconds_per_message']:g} s each)"
        )
        ax.set_ylabel("visitor → agent (ms)")
        ax.set_title("Contact center: 2 nodes, Redis, PostgreSQL")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / "contact-center.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if "attachments" in data:
        path = attachments_page.plot(data["attachments"], out_dir, plt)
        written += [path] if path else []

    prof = data.get("relay", {}).get("systems", {}).get("gateway", {}).get("profile", {})
    rows = _gateway_frames(prof.get("inclusive_all", prof.get("inclusive", [])))[:12]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.barh([r["frame"][:70] for r in rows], [r["share_pct"] for r in rows], color="#047857")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel("% of GIL-holding samples (inclusive)")
        ax.set_title("Gateway under relay load: where the Python time goes (py-spy --gil)")
        fig.tight_layout()
        path = out_dir / "relay-profile.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _gateway_frames(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The profile's frames in the project's own code (gateway/, widget/, routing/)."""
    skip = ("(gateway/cli.py", "(gateway/__main__.py")
    return [
        r
        for r in rows
        if ("(gateway/" in r["frame"] or "(routing/" in r["frame"])
        and not any(k in r["frame"] for k in skip)
    ]


# -- the page ---------------------------------------------------------------------------


def _machine(data: dict[str, dict[str, Any]]) -> str:
    m: dict[str, Any] = {}
    for key in ("relay", "idle", "contact-center"):
        if isinstance(data.get(key, {}).get("machine"), dict):
            m = data[key]["machine"]
            break
    if not m:
        return "No machine description in the results yet."
    dates = sorted({d["date"] for d in data.values() if "date" in d})
    rows = [
        ["CPU", f"{m.get('cores')} cores, {m.get('cpu_model') or 'unknown model'}"],
        ["memory", f"{m.get('memory_gib')} GiB"],
        ["Linux", str(m.get("kernel"))],
        ["Python", str(m.get("python"))],
        ["open files per process", _n(m.get("open_files_limit"))],
        ["run", ", ".join(dates) if dates else "—"],
    ]
    # Workloads run on another processor (rerun alone since) are named here, by processor.
    elsewhere: dict[str, list[str]] = {}
    for key, d in sorted(data.items()):
        other = d.get("machine")
        if isinstance(other, dict) and other.get("cpu_model") != m.get("cpu_model"):
            cpu = f"{other.get('cores')} cores, {other.get('cpu_model')}"
            elsewhere.setdefault(cpu, []).append(f"{key} ({d['date']})" if "date" in d else key)
    for cpu, keys in elsewhere.items():
        rows.append([f"on {cpu}", ", ".join(keys)])
    return (
        _table(["", ""], rows)
        + "\n\nA shared machine, loopback only: other work may run beside the benchmark, so "
        "compare figures within one run (medians and ratios), not across runs."
    )


def _goals(data: dict[str, dict[str, Any]]) -> str:
    rows: list[list[str]] = []
    relay = data.get("relay", {})
    idle = data.get("idle", {})
    cc = data.get("contact-center", {})
    sio = relay.get("gateway_to_sio_ratio")
    ws = relay.get("gateway_to_ws_ratio")
    if "gateway_to_sio_ratio" in relay:
        rows.append(
            ["relay throughput ≥ 3x python-socketio", f"{_n(sio, 2)}x", _met(sio and sio >= 3)]
        )
    if "gateway_to_ws_ratio" in relay:
        rows.append(
            ["relay throughput ≥ 0.8x bare websockets", f"{_n(ws, 3)}x", _met(ws and ws >= 0.8)]
        )
    rows += relay_page.goal_rows(relay)
    if idle.get("goals"):
        g = idle["goals"]
        per = g["rss_16kib_per_conn"]["rss_per_conn_bytes"]
        rows.append(
            [
                "≤ 16 KiB resident per idle connection",
                f"{(per or 0) / 1024:.1f} KiB",
                _met(g["rss_16kib_per_conn"]["met"]),
            ]
        )
        rows.append(
            [
                "19,000 connections held by one process",
                _n(g["hold_19000_connections"]["open"]),
                _met(g["hold_19000_connections"]["met"]),
            ]
        )
    for key, label in (
        ("p99_under_10ms_at_5000_msgs_per_s", "2 nodes + persistence: p99 visitor→agent < 10 ms"),
        ("p99_under_50ms_at_5000_msgs_per_s", "issue 18: 2 nodes + PostgreSQL: p99 < 50 ms"),
    ):
        g = cc.get("goals", {}).get(key)
        if g:
            rows.append(
                [
                    f"{label} at 5,000 msg/s",
                    f"p99 {_ms(g['p99_ms'])} ms (median of {_n(g.get('steps', 1))} steps), "
                    f"{_n(g['delivered_msgs_per_s'])} msg/s delivered",
                    _met(g["met"]),
                ]
            )
    for name, g in data.get("attachments", {}).get("goals", {}).items():
        if "bound_bytes" in g:
            rows.append(
                [
                    f"issue 12: ten 25 MB uploads at once, server RSS flat ({name})",
                    f"+{g['growth_peak_bytes'] / 2**20:.1f} MiB (bound "
                    f"{g['bound_bytes'] / 2**20:.0f} MiB)",
                    _met(g["met"]),
                ]
            )
    auto = data.get("automations", {}).get("goals", {}).get("p99_unmoved_by_slow_or_down_receiver")
    if auto:
        rows.append(
            [
                "automations never on the live path: chat p99 with a webhook receiver slow or "
                f"down ≤ {auto['ratio_limit']}x without webhooks (issue 15)",
                f"{' / '.join(_n(r, 2) + 'x' for r in auto['ratios'])} (slow / down)",
                _met(auto["met"]),
            ]
        )
    trouble = data.get("automations", {}).get("goals", {}).get("p99_unmoved_by_receiver_trouble")
    if trouble:
        rows.append(
            [
                "automations: chat p99 with the receiver slow or down ≤ "
                f"{trouble['ratio_limit']}x with a receiver that answers at once (issue 15)",
                f"{' / '.join(_n(r, 2) + 'x' for r in trouble['ratios'])} (slow / down)",
                _met(trouble["met"]),
            ]
        )
    if not rows:
        return "No results yet: run `./scripts/bench all`."
    return _table(["goal (issue 7 unless said)", "measured", ""], rows)


def _layers() -> list[str]:
    """The same stacks by layer (bench/relay_profile.py ``LAYERS``)."""
    raw = ROOT / "docs" / "benchmarks" / "relay-gateway.pyspy.txt"
    if not raw.exists():
        return []
    rows = [[r["layer"], f"{r['share_pct']}"] for r in relay_profile.layers(raw.read_text())]
    return [
        "By layer (each sample charged to the innermost frame that names one). These are"
        " shares of the time the gateway held the GIL: SQLite lets go of it while a"
        " statement runs, so its own share of the CPU is larger than it reads here"
        " (`./scripts/bench sqlite-appends` measures it alone: docs/store.md, *What SQLite"
        " itself costs*).",
        "",
        _table(["layer", "% of samples"], rows),
        "",
    ]


def _p99_points(steps: list[dict[str, Any]]) -> tuple[list[int], list[float]]:
    """Offered rate and p99 of each step; a step with over 1 % lost drawn at 10 s."""
    return (
        [st["offered_msgs_per_s"] for st in steps],
        [st["p99_ms"] if st["p99_ms"] is not None else 1e4 for st in steps],
    )


def _profile(data: dict[str, Any]) -> str:
    gw = data.get("systems", {}).get("gateway", {})
    prof = gw.get("profile")
    steps = [s for s in gw.get("steps", []) if s.get("p99_ms") is not None]
    knee = max(
        (s for s in steps if s["p99_ms"] <= data.get("p99_limit_ms", 250)),
        key=lambda s: s["delivered_msgs_per_s"],
        default=None,
    )
    out = []
    if knee:
        # The CPU per message times the rate: the cores the relaying took while it ran
        # (server_cpu_utilisation spreads the same CPU over the drain and the start too).
        cores = knee["delivered_msgs_per_s"] * (knee.get("server_cpu_us_per_msg") or 0) / 1e6
        # the cores it was pinned to; unpinned, the machine's
        usable = len(data.get("placement", {}).get("server_cpus") or []) or (
            data.get("machine", {}).get("cores") or 2
        )
        if not gw.get("saturated"):
            verdict = "."
        elif cores >= 0.9 * usable:
            verdict = (
                ". The CPU was the limit: the next step's messages, each cheaper in a "
                "larger batch, still needed more of it than there was."
            )
        else:
            verdict = ", so it saturated with CPU to spare (see below)."
        out.append(
            f"At its highest sustained rate ({_n(knee['delivered_msgs_per_s'])} msg/s) the "
            f"gateway process used {_n(knee.get('server_cpu_us_per_msg'))} µs of CPU per "
            f"message: {cores:.2f} cores at that rate, of the {usable} it could run on" + verdict
        )
        out.append("")
    if not prof or "error" in prof:
        out.append(f"No profile in this run{': ' + prof['error'] if prof else ''}.")
        return "\n".join(out)
    d = prof["during_step"]
    out.append(
        f"py-spy recorded the gateway with `--gil` (only the thread holding the GIL is "
        f"sampled: where the Python-level CPU goes) for {prof['samples']:,} samples while it "
        f"relayed {_n(d['offered_msgs_per_s'])} msg/s (p99 {_ms(d['p99_ms'])} ms). "
        "The raw stacks are in `docs/benchmarks/relay-gateway.pyspy.txt` (collapsed format: "
        "`flamegraph.pl` or speedscope draw them); those of the two nodes of the gateway x2 "
        "system, recorded at once after its ramp, in `relay-2n-node-A.pyspy.txt` and "
        "`relay-2n-node-B.pyspy.txt`. Frames name the files of the code that "
        f"was profiled ({data.get('date', 'date unknown')}): modules have moved since (docs/architecture.md "
        "says where each concept lives now)."
    )
    out.append("")
    rows = [
        [f"`{r['frame']}`", f"{r['share_pct']}"]
        for r in _gateway_frames(prof.get("inclusive_all", prof["inclusive"]))[:14]
    ]
    if rows:
        out.append(
            "The project's own frames, inclusive (% of samples with this frame on the stack):"
        )
        out.append("")
        out.append(_table(["frame", "%"], rows))
        out.append("")
    out += _layers()
    rows = [[f"`{r['frame']}`", f"{r['share_pct']}"] for r in prof["self"][:12]]
    out.append("Self time, any code:")
    out.append("")
    out.append(_table(["frame", "%"], rows))
    out += ["", "![profile](benchmarks/relay-profile.png)"]
    return "\n".join(out)


WHERE_THE_TIME_GOES = """\
What one relayed message costs the gateway, read from the profiles on this page and from
the code they point at:

1. **Frames out per message**, each one `transport.write`, one system call per frame.
   Since issue 18 a relayed message is two frames: the `ack` to the sender, which
   carries the stored message, and the `message` to the recipient, which carries the
   recipient's unread count and the reply sound (five before: echo, ack, message,
   `unread`, `sound`); the sender's other tabs get the message too. The bare websockets
   peer sends one. The hub encodes each frame once (JSON), frames it once (the
   WebSocket header) and writes the same bytes straight to each socket's transport
   (`gateway/web/hub.py` `Connection.send` → `gateway/web/transport.py` `write_frame`):
   no ASGI message, no task and no await per frame while the transport takes writes
   (before: a writer task per frame, then Starlette's and uvicorn's send path, 14.9 %
   self time in uvicorn's `send` and 11.3 % in `create_task` in the profile of
   2026-12-01), and the frames one socket gets in one turn of the event loop (the
   acks and messages of one group commit) go out in one system call. Frames are
   queued, and a writer task started, only while the transport's buffer is over its
   high-water mark, so the send queue's bounds (4008, slow consumer) and the write
   timeout hold as before.
2. **The store's lane to its writer thread.** The SQLite writer lives on a thread of its
   own and every call into it is a hop (queue the call, wake the thread, wake the loop
   with the result). Since issue 18's first slice a batch of appends (BEGIN, every
   insert and counter update, COMMIT) is one hop (`SQLiteStore._in_one_hop`, was two
   hops per message plus two per batch) and reads by primary key (the conversation the
   visitor's and the agent's frames name) run inline on a second connection beside
   the writer (WAL: a reader never waits for the writer), no hop and no lock. Since
   issue 18's lane slice the batch itself runs inline on the event loop when the writer
   is free (no hop, no task, no `shield` per append; the WAL checkpoint moved to a
   thread of its own): see docs/store.md and *The SQLite store alone* below.
3. **Decoding rows** into Structs (`gateway/ports/store/_rows.py` `Table.decode`) for
   rows the hot path only needs one or two columns of.

Done before issue 18: appends are **group-committed** (appends that arrive while a
transaction is in flight are stored together in the next one, one `BEGIN`/`COMMIT` for
all of them), the visitor's socket keeps its open conversation's id, and contact names
are cached.

What would close more of the gap, in the order of what it buys:

* **Fewer store calls per message**: the visitor's and the agent's sockets write on the
  conversation as this node last stored it (`gateway/services/recent.py`), and since
  2026-12-03 the append itself reads it only when something else wrote since its last
  batch (docs/store.md, *The rows the group commit keeps*: 4 to 10 % less CPU a message
  near the knee, two sittings alternated). Two statements a message are left, the
  insert and the counters' update, and one `PRAGMA` a batch.
* **Fewer pages written per message**: since 2026-12-04 the idempotency index is keyed
  by the clients' time-ordered message ids (docs/store.md, *The idempotency index*), so
  a batch's entries share its last pages: 2.16 WAL frames a message instead of 3.25,
  5.71 `pwrite64` instead of 7.28 at 4,000 msg/s, about 5 % less CPU a message near the
  knee and none below it (alternated sittings). What each message still writes a page
  of: its conversation's leaf of the messages table and its conversation's row.

The ceiling set by the bare `websockets` peer (no authentication, no routing, no
persistence, one frame per message) is out of reach for a design that commits every
message before it acknowledges it: 0.8x of it would leave about 20 µs of CPU per
message, less than one SQLite commit costs here.

**Below the Python frames** (probes of 2026-12-02 on the one-node gateway as the relay
sets it up, 800 to 3,400 msg/s; their set-ups and every figure are in [the relay's
sittings](benchmarks-relay.md), *Below the Python frames*). The process's CPU went 44 to
49 % to CPython's interpreter (its loop, `_PyEval_EvalFrameDefault`, 17 %; no other
symbol over 3.1 %), 22 to 27 % to the kernel, 15 to 17 % to SQLite's library, 6 to 7 %
to libc, 3 % to uvloop and 2 % to msgspec, in about 248 Python-level calls a message,
4.9 of them SQLite statements. SQLite writes pages, not rows: about ten `pwrite64` a
message whatever the batch (a WAL frame is two writes, and the checkpoint writes the
page again into the database), and each conversation's messages end in a leaf of their
own, so a batch to different conversations shares almost no page. Before any Python,
SQLite cost 86 to 93 µs a message there and the sockets 27 to 41: 115 to 130 µs, more
than the goal's 100 µs for everything. Kept from those probes: the WAL bounded and a
larger page cache (docs/store.md), and frames in taken below websockets' parser
(docs/security.md, *Frames in*; about 4 % of the CPU a message).

So the 10,000 msg/s goal (100 µs per message) is not one more hot spot away: the
interpreter alone spends 120 to 170 µs per message (44 to 46 % of its CPU at 1,500 to
3,400 msg/s) on about 240 calls, and SQLite 86 to 93 µs with its writes in the kernel.
It would take the Python per message cut by more than three and the store's page writes
by about two: a compiled path from frame to append to frames, and messages kept in an
append-only log written a page at a time rather than in a tree keyed by conversation.
Neither is built. Since 2026-12-04 the relay measures that floor beside the gateway: the
bare relay committing each message to SQLite before its relay and ack (`websockets +
SQLite`, *The floor of durability* above).

**Tried and not kept** (each against the code before it, alternated in one sitting; the
dates, probes and figures are in [the relay's sittings](benchmarks-relay.md), *Tried and
not kept*):

* **A compiled path**: mypyc on the 14, then 18, modules a message passes through. No
  gain in either sitting: the work a message does is calls into uvicorn, websockets,
  asyncio and `sqlite3` objects, which compiled code makes through the same
  interpreter's protocols.
* **The WAL's checkpoints** ten times further apart or four times closer, the writes
  held more readily to start the WAL again (`TAIL` 2,048 rows), larger inline batches
  (300): none cheaper a message, and the last two with a worse p99.
* **SQLite's layout and calls**: the messages table in arrival order (its key then an
  index written a leaf per conversation, as the table was), the foreign key unchecked,
  `executemany`, a memory map: within the drift; pages of 1 KiB, or of 8 to 32 KiB in
  small batches, and the batch as one JSON document: worse; the counters in a narrower
  row of their own: 3 to 6 µs a message, not worth taking them out of the row every
  reader of a conversation decodes.
* **The process**: jemalloc in place of glibc's allocator, no gain; the `getpid` in
  every `asyncio.get_running_loop()`, under 1 µs a message; JSON rather than JSONB for
  PostgreSQL's batch, 1 to 2 µs.
* **Messages kept first in a log**, folded into the keyed table later (estimated on
  SQLite alone): 14 to 30 µs a message of SQLite's work saved, least where batches are
  largest, at the knee, for every read of a conversation's messages (history, resume,
  search, exports) merging two tables and the counters rebuilt from the log after a
  crash. Not built.
"""


def _idle_cpu(s: dict[str, Any]) -> str:
    if "idle_cpu_core_share" not in s:
        return "not measured"
    return f"{s['idle_cpu_core_share'] * 100:.1f} ({s['idle_cpu_us_per_conn_per_s']:.2f})"


def _idle(data: dict[str, Any]) -> str:
    systems = data.get("systems", {})
    out = [
        "Visitor sockets that said `hello` and got their `welcome` and renewed token, then "
        "stay idle (answering the server's pings), opened by several generator processes "
        "(each from its own loopback address) against one server process. RSS is the "
        "server's VmRSS; *per connection* is the slope of RSS over open connections across "
        "the checkpoints (start-up memory left out); *from start* divides all growth since "
        "start by the connections. *CPU while held*: the server's user + system time while "
        "the last checkpoint's sockets were held (pings, timers), over that time.",
        "",
    ]
    rows = []
    for name, s in systems.items():
        if "error" in s:
            rows.append([LABELS.get(name, name), "failed: " + s["error"][:100], *[""] * 6])
            continue
        rows.append(
            [
                LABELS.get(name, name),
                _n(s["connections_open"]),
                _n(s["connections_held_after_s"]["open"]),
                f"{s['rss_end_bytes'] / 2**20:,.1f}",
                f"{(s['rss_per_conn_bytes'] or 0) / 1024:.1f}",
                f"{(s['rss_per_conn_from_start_bytes'] or 0) / 1024:.1f}",
                _idle_cpu(s),
                _n(s["pings_answered_while_held"]) if "pings_answered_while_held" in s else "—",
            ]
        )
    out.append(
        _table(
            [
                "server",
                "opened",
                f"still open after {data.get('config', {}).get('hold_s', 0):g} s",
                "RSS MiB",
                "KiB/conn (slope)",
                "KiB/conn (from start)",
                "CPU while held: % of a core (µs a socket a second)",
                "pings answered while held",
            ],
            rows,
        )
    )
    gw = systems.get("gateway", {})
    if gw.get("points"):
        out += ["", "Checkpoints (gateway):", ""]
        out.append(
            _table(
                ["open", "RSS MiB", "server fds", "seconds since start"],
                [
                    [
                        _n(p["open"]),
                        f"{p['rss_bytes'] / 2**20:,.1f}",
                        _n(p["server_fds"]),
                        _n(p["elapsed_s"], 1),
                    ]
                    for p in gw["points"]
                ],
            )
        )
    out += ["", "![RSS against open connections](benchmarks/idle-rss.png)"]
    return "\n".join(out)


IDLE_NOTES = """\
**What holding them costs in CPU** (the table's last columns: the server's user and
system time over the 20 s the 19,000 sockets were held, one ping interval, and the pings
the clients answered meanwhile: fewer than the sockets, since a socket's next ping is
due 20 s after its last pong and goes at the end of its tick). Nearly all of it is the keepalive: each socket's ping
every 20 s and its pong. uvicorn gives each socket a timer of its own, so the node woke
about 1,900 times a second for one ping or one pong deadline each; the gateway now runs
every socket's pings and pong deadlines on one timer that ticks every second
(gateway/web/transport.py, `Keepalive`), and writes an open socket's ping frame as bytes
instead of having websockets build it. `./scripts/bench idle` on the same machine
(an Intel Xeon's two cores): **11.9 % of a core before (2026-12-02, 23:42 UTC), 3.6 %
after (2026-12-03, 00:12)**, 6.3 and 1.9 µs a socket a second; the bare websockets server 14.6 and
16.2 %. A `/tmp` probe holding 19,000 sockets for three 20 s windows of each tree: 13.4
to 14.4 % before (user 10.4 to 11.0, system 3.0 to 3.3), 3.2 to 3.5 % after (user 2.2 to
2.5, system 0.9 to 1.0); before, with pings every 40 s instead of 20, 9.6 and 9.7 %, not
half: the wake-ups, not the pings, were most of it, and py-spy found no function of the
gateway's above 1 % of the samples, only uvicorn's keepalive and websockets' ping and
pong frames. The memory slope read 14.3 KiB a socket after, 14.8 before (one run each;
a timer handle per socket is gone, a smaller record in the wheel is there instead). The
visitor token's renewal (75 µs a socket every 5 minutes, 0.25 µs a socket a second) falls
outside a 20 s window; with several nodes, presence's refresh adds about 0.8 % of a core
at 19,000 sockets (docs/scaling.md).

Where an idle visitor socket's memory goes: `./scripts/bench idle-memory`
(bench/idle_memory.py) traces the gateway process with `tracemalloc`, opens idle visitor
sockets up to a first count and then a second (2,000 and 4,000; 200 and 400 with
`--quick`) and divides the difference by the sockets added; each allocation is charged
to the innermost frame outside the standard library. It sees Python's allocators only
(RSS also holds the allocators' own overhead), so its totals sit below the slope above.
Per socket, quick runs: before (main at 2f7fa93), after the trims, after the direct
dispatch too (load average 3.7, 4.5, 5.8):

| owner | before KiB | trimmed KiB | direct KiB | what it holds for an idle socket |
|---|---|---|---|---|
| uvicorn (`WebSocketsSansIOProtocol`) | 10.4 | 5.1 | 5.1 | the protocol's `__dict__` (about 40 attributes, 1.6 KiB), the ASGI scope, the task running the application (0.6 KiB), the ping timer; before also an `asyncio.Queue` and an `asyncio.Event` (four deques, 4.1 KiB) |
| Starlette | 5.6 | 5.3 | 0.3 | before: the middleware and routing chain, about 12 coroutines awaiting one another for the socket's life, their closures, a second `WebSocket` made by the exception middleware; now one `WebSocket` |
| gateway (ours) | 6.1 | 4.9 | 5.3 | the endpoint's coroutines (the dispatch, endpoint, `guarded`, session, `run_loop`, the read loop, `receive_text`), `Connection`, `VisitorSession`, the token's claims, `FrameLimit`, the hub's, bus's, presence's and renewals' entries; before also an empty deque per `Connection` (0.6 KiB), instance dicts, the hello frame |
| websockets (`ServerProtocol`) | 5.6 | 1.9 | 2.1 | the parser's three generators and its buffer, the last frame it parsed; before also the handshake's parsed request and response with their headers (3.4 KiB) |
| event loop (uvloop) | 1.2 | 1.2 | 1.2 | the transport, its socket and timer handles |
| PyJWT | 0.5 | 0.5 | 0.4 | the verified claims' dict |
| **total traced** | **29.5** | **18.8** | **14.4** | |

Live objects per idle socket now (the collector's view): 11 coroutines (2.9 KiB; 21 before
the direct dispatch), 21 dicts (5.2 KiB), one task, no deque.

`./scripts/bench idle` before and after in one sitting (main at f574203 through
`BENCH_GATEWAY_SOURCE`, then this code; load average 4.1 at the start, 2.4 between, 5.7 at
the end): **31.5 KiB per idle socket before (665.4 MiB at 19,000), 15.0 KiB after (360.3
MiB)**; the websockets peer 15.4 KiB in both runs. An earlier sitting with the trims but
not yet the direct dispatch: 31.5 before, 20.4 KiB after.

Done in issue 18: uvicorn's protocol (gateway/web/transport.py) gets a receive queue and a
"writable" flag that allocate only while something waits on them, and lets go of the
handshake's parsed request and response (the request's headers emptied in place, since
websockets' parser keeps the request) once the handshake is answered; the visitor endpoint
drops the scope's headers and its hello once the session is open; `Connection`,
`VisitorSession`, `FrameLimit` and the write-timeout state have `__slots__`, and a
`Connection` holds a queue only while it has something to write (a writer task already
existed only then; the token renewals are one timer for all sockets); and the plain
WebSocket routes are called straight from uvicorn (gateway/web/direct.py) instead of
through Starlette's middleware and router, which act on no WebSocket of the gateway (the
request guard lets them through; each endpoint maps its own errors to close codes). Every
limit, timeout, ping, drain and backpressure path is unchanged
(tests/security/test_limits.py, tests/gateway/test_idle_state.py,
tests/gateway/test_direct_sockets.py).

Measured, not built: the websockets library's own asyncio server on the same event loop.
`./scripts/bench sockets` gives 25.0 KiB per idle socket for Starlette on uvicorn and
14.9 KiB for it, and 6.85 against 5.75 µs of CPU per frame. Of that 10 KiB difference the
direct dispatch took about 5 (20.4 to 15.0 KiB); the rest is uvicorn's protocol against
websockets' own connection object. Decision: keep uvicorn. Serving the visitor socket
with websockets' server would mean a second server stack beside uvicorn (its own
listener, handshake, keepalive and close handling) and writing again every connection
limit of transport.py (per-address connections, handshake deadline, header size and
count, write timeout) for a few KiB more, now that the goal is met. If it is wanted
later, the next step that keeps uvicorn: a protocol subclass that keeps its fixed
settings on the class instead of in each instance's 1.6 KiB `__dict__`.
"""


def _contact_center(data: dict[str, Any]) -> str:
    cfg = data.get("config", {})
    out = [
        "Two gateway nodes on one Redis and one PostgreSQL (fsync off, as in the test "
        "services), every message committed before it is acknowledged. Visitors start "
        "conversations on either node in turn; the router assigns them (automatic "
        f"acceptance, {_n(cfg.get('per_agent'))} per agent) to agents connected to either "
        "node, so about half the messages cross between nodes. Each conversation chats at "
        f"one message every {cfg.get('seconds_per_message')} s (visitor and agent in "
        f"turn) for {cfg.get('duration_s')} s per step. Nothing is pinned.",
        "",
    ]
    if data.get("error"):
        out.append(f"**The workload failed:** `{data['error'][:500]}`")
        return "\n".join(out)
    rows = [
        [
            _n(s["conversations"]),
            _n(s["offered_msgs_per_s"]),
            _n(s["delivered_msgs_per_s"]),
            _ms(s["to_agent_p50_ms"]),
            _ms(s["to_agent_p99_ms"]),
            _n(s["lost"]),
            _n(s.get("node_cpu_us_per_msg")),
            _n(s.get("server_cpu_us_per_msg")),
            _busy(s),
            _n(s.get("setup_s"), 1),
        ]
        for s in data.get("steps", [])
    ]
    out.append(
        _table(
            [
                "conversations",
                "offered/s",
                "delivered/s",
                "visitor→agent p50 ms",
                "p99 ms",
                "lost",
                "nodes' CPU µs/msg",
                "all CPU µs/msg (PG, Redis)",
                "machine busy",
                "set-up s",
            ],
            rows,
        )
    )
    out.append("")
    if data.get("setup_error"):
        out.append(f"Stopped while setting up: `{data['setup_error'][:600]}`")
        out.append("")
    out.append(
        f"Largest count with p99 under {data.get('p99_limit_ms', 100):g} ms: "
        f"**{_n(data.get('max_conversations_p99_100ms'))}** conversations."
    )
    f = data.get("fixed_rate")
    if f:
        repeated = data.get("fixed_rate_steps", [f])
        out.append("")
        out.append(
            f"At {_n(f['offered_msgs_per_s'])} msg/s offered ({_n(f['conversations'])} "
            f"conversations), {_n(len(repeated))} steps one after another: p99 visitor→agent "
            + ", ".join(f"{_ms(s['to_agent_p99_ms'])}" for s in repeated)
            + f" ms (— means more than 1 % never arrived within the step). "
            f"The median step, whose p99 is the goal's figure: "
            f"{_n(f['delivered_msgs_per_s'])} msg/s delivered, visitor→agent "
            f"p50 {_ms(f['to_agent_p50_ms'])} ms, p99 **{_ms(f['to_agent_p99_ms'])} ms**, "
            f"{_n(f['lost'])} lost or late past the step; over the messages that did "
            f"arrive, p99 {_ms(f.get('to_agent_p99_delivered_ms'))} ms; "
            f"{_n(f.get('node_cpu_us_per_msg'))} µs of the nodes' CPU a message, "
            f"{_n(f.get('server_cpu_us_per_msg'))} with PostgreSQL's and Redis's."
            + (
                " The machine's two cores while each step sent (every process's time and the "
                "kernel's, from /proc/stat; *machine busy* in the table too): busy "
                + ", ".join(_busy(s) for s in repeated)
                + "; of it the kernel's softirq (where loopback hands each packet to its "
                "socket) "
                + ", ".join(_busy(s, "softirq") for s in repeated)
                + ", time taken by the hypervisor (steal) "
                + ", ".join(_busy(s, "steal") for s in repeated)
                + "."
                if all("machine" in s for s in repeated)
                else ""
            )
        )
    out += [
        "",
        CC_MEDIAN,
        "",
        CC_WHY,
        "",
        "![visitor to agent latency against conversations](benchmarks/contact-center.png)",
    ]
    return "\n".join(out)


def _busy(step: dict[str, Any], kind: str = "busy") -> str:
    """A share of the machine's cores while a step sent, as a percentage."""
    share = step.get("machine", {}).get(kind)
    return "—" if share is None else f"{100 * share:.1f} %"


CC_MEDIAN = """\
**The fixed rate, five times** (since 2026-12-04, 19:56 UTC). One 4 s step at 5,000
msg/s is one sample of a p99 that moves several times over from step to step here ([the
contact center's sittings](benchmarks-contact-center.md), *Steps, not runs*), so a full
run now holds that step five times, one after another on the same conversations, and its
figure and the goal's verdict are the median step's (by p99; a step where more than 1 %
never arrived ranks slowest); every step's p99 is listed above. The run above
(2026-12-05, 00:14 UTC, load average 2.2, falling from a test suite's): 15.5, 109.4,
25.0, 39.1 and 35.5 ms, every message delivered in each, the servers 309.5 to 323.5 µs
of CPU a message (as in every run since 2026-12-04 09:04) and the nodes 228.5 to 239;
the run of 21:47 the evening before, on the same chat path: 196.7, 357.5, 740.2, 264.3
and 170.1 ms, the servers 318.5 to 331.5 µs a message.

**The machine, full** (since 2026-12-04, 21:47 UTC: *machine busy* in the table, from
/proc/stat while each step sent). In the five steps at 5,000 msg/s the machine's two
cores were 99.6 to 100 % busy in the run above and 99.5 to 99.9 % in that of 21:47, the
kernel's softirq (loopback handing each packet to its socket) 5.3 to 7.5 % of them, the
hypervisor's steal under 0.5 %; the ramp's steps were 85.0 % busy at 2,000 msg/s (p99
6.4 ms) in the run above and 98.7 % (p99 16.4 ms) at 21:47. The servers' CPU a message
falls as the rate rises (1,840 µs at 125 msg/s, 724 at 2,000, 320 at 5,000 in the run
above): messages that come closer together share the wake-ups of four processes and
PostgreSQL's batches. Once the machine is full (from 2,000 msg/s at 21:47; above that
rate in the run above), the servers take what the generators leave of the two cores and
the rate decides how many messages each wake-up carries; at 5,000 msg/s nothing is left
over in either hour, and the p99 is the queueing of a machine that does more or less in
a second of CPU: the bare websockets relay spent 43.5 µs a message at 17,300 msg/s at
00:16 and 58.4 at 19:43. Where in a step the late messages were: a `/tmp` probe on the
same set-up (4,000 conversations, 4 s steps at 5,000 msg/s, the generators reporting
when each message was due; 19:44-19:50 UTC) found, in each of four steps with nothing
else attached (p99 114.2, 139.5, 177.7 and 743.0 ms), a message over 50 ms in 29, 29, 24
and 40 of the step's forty 100 ms windows: waves of backlog that grow and drain through
the step, not one stall. What would hold the goal here in the slower hours is less CPU a
message, not a pause removed."""


CC_WHY = """\
**Why this figure moves.** At 5,000 msg/s the two nodes, PostgreSQL and Redis take about
1.6 of the machine's two cores (the servers' CPU a message above) and the two generators
about 0.3, with the kernel's share of loopback besides: the step runs on a machine with
nothing left over (above), and its p99 follows how fast the machine runs that hour, not
the build. The same chat path and the same CPU a message gave 38.3 ms at 09:04 UTC on
2026-12-04, 163.7 to 331.0 ms in four runs from 17:32 to 19:56, 264.3 at 21:47, 35.5 at
00:14 on 2026-12-05 (the page's) and 34.3 at 02:03: the goal is met in the machine's
faster hours and not in its slower ones. Every run, probe and trial on this workload
since 2026-12-01 (routing bursts, PostgreSQL's batch and its plan, the generators' tick,
the garbage collector, another machine's figures, where PostgreSQL's share goes) is in
[the contact center's sittings](benchmarks-contact-center.md), with its date, its set-up
and what it changed."""


def _automations(data: dict[str, Any]) -> str:
    from bench.automations import report_section  # the workload renders its own section

    return report_section(data)


ABUSE_INTRO = """\
`./scripts/bench abuse` (`bench/abuse.py`) runs one gateway with its default limits
and a visitor's conversation timing send → ack round trips (one every 50 ms), first
alone, then while three attacks run together from a process of their own: a login
flood from many addresses, clients that ask for a long history again and again and
never read, and a slowloris of trickling requests and WebSocket handshakes. Every
client leaves from an address of its own on the loopback network, so the per-address
limits apply as on the Internet. The bounds are what docs/security.md promises; the
figures before the fixes of issue 11 were a p50 of 4,183 ms under eight parallel logins
and +567 MB of RSS for three non-reading sockets.
"""


def _abuse(data: dict[str, Any]) -> str:
    if not data:
        return "No abuse results: run `./scripts/bench all`."
    from bench import abuse

    return abuse.markdown(data)


def _router(data: dict[str, Any]) -> str:
    if "results" not in data:
        return "No router results in this run."
    rows = [
        [
            _n(r["waiting"]),
            _n(r["agents"]),
            _n(r["events_per_s"]),
            _ms(r["median_us"]),
            _ms(r["p99_us"]),
            _ms(r["p999_us"]),
        ]
        for r in data["results"]
    ]
    met = data.get("goals_met", {})
    return (
        "The pure router (`bench/router.py`: cost per event with a standing backlog of "
        "waiting conversations), one core:\n\n"
        + _table(["waiting", "agents", "events/s", "median µs", "p99 µs", "p99.9 µs"], rows)
        + f"\n\np99 at the largest backlog ÷ p99 at the smallest: {data.get('p99_growth_ratio')}. "
        + "Goals met: "
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in met.items())
        + "."
    )


def _bus(data: dict[str, Any]) -> str:
    keys = ("redis_py_awaited", "bus_awaited", "bus_concurrent", "bus_end_to_end")
    if not all(k in data for k in keys):
        return "No bus results in this run."
    rows = [[f"`{k}`", _n(data[k]["per_s"]), _n(data[k]["cpu_us"], 1)] for k in keys]
    return (
        f"Redis publishing, 200-byte frames, {data.get('publishers')} concurrent publishers "
        "(`bench/bus.py`):\n\n" + _table(["mode", "frames/s", "CPU µs/frame"], rows)
    )


def _method(data: dict[str, dict[str, Any]]) -> str:
    versions = data.get("relay", {}).get("peer_versions", {})
    v = ", ".join(f"{k} {val}" for k, val in versions.items()) or "see bench/peers/requirements.txt"
    systems = len(RELAY_SYSTEMS)
    bound_min = round(full_run_bound_s(RELAY_FULL, systems) / 60)
    return f"""\
* **One command**: `./scripts/bench all` runs every workload (router, bus, relay, side-by-side,
  sockets, idle, contact-center, attachments, webhooks, automations, abuse) one after the other, writes
  `docs/benchmarks/NAME.json` and regenerates this page and its plots (`./scripts/bench report` redoes only the page).
  `./scripts/bench WORKLOAD [--quick] [--json FILE]` runs one; `--quick` is small sizes
  (what `tests/bench` runs), not the published measurement. The relay's `--quick` still
  ramps each system to its knee (200 conversations, 1 s steps doubling the rate, within
  a 40 s budget per system, a few minutes for all {systems}) and says when it
  found none, so its ratios compare ceilings too. The full relay's ramp has a 75 s
  budget per system (only the bare websockets relay comes near it): by its budgets a
  full `./scripts/bench relay` takes at most about {bound_min} minutes, usually under 10. `./scripts/bench profile` is the
  gateway alone with its py-spy profile, for a change's before and after
  (bench/profile.py).
* **Load generators** (`bench/loadgen.py`) are separate processes, each an asyncio
  (uvloop) client fleet driven over a pipe; for the relay they are pinned to the last
  core and every server process to the others (`bench/pinning.py`, *Pinning* above). Their WebSocket client is a thin `asyncio.Protocol` (no
  library), so a generator costs far less than the servers it loads; it masks frames
  with a zero key (legal; the server unmasks all the same). Sending is open-loop:
  messages leave on schedule whether or not the server keeps up, and latency is counted
  from the scheduled time, so queueing anywhere counts. A generator wakes at most once
  a millisecond and sends every message due by then (since 2026-12-02 15:20 UTC; before,
  it woke for each message: the relay's figures above were measured so, its generators
  on a core of their own; the contact center: docs/benchmarks-contact-center.md,
  "The generators' tick").
* **Servers** run as real processes on 127.0.0.1: the gateway through
  `devkit.services.start_gateway` (uvicorn, `GATEWAY_LOG_LEVEL=warning`), seeded before
  start with a queue, an auto-accepting chat touchpoint and its agents
  (`bench/gateway_setup.py` `seed_store`), `GATEWAY_SEND_QUEUE_SIZE=100000`. Every
  client of a benchmark comes from one address at rates no person types at, so no
  default limit could hold: the relay keeps every rate limiter on with its limits raised
  above the benchmark's traffic (`RATE_LIMITS_ON`: each frame is still counted and
  checked, nothing refused) and measures them off apart (`gateway-nolimits`); the other
  workloads switch them off (`GATEWAY_FRAMES_PER_MINUTE=0` and the connection/conversation
  limits), except the abuse workload, which keeps every default limit. CPU is
  read from `/proc/PID/stat` (user + system) before and after each step, RSS from
  `/proc/PID/status`, and what the whole machine's cores did while a step sent from
  `/proc/stat` (*machine busy*: neither idle nor waiting on a disk, every process's
  time and the kernel's; the contact center's table shows it).
* **Peers** (`bench/peers/`, run from `bench/.venv-peers`, made by the workload from
  `bench/peers/requirements.txt`: {v}), each written as its documentation shows:
  - *websockets*: `websockets.asyncio.server.serve` and `broadcast` to the room's other
    members (uvloop); the ceiling: no authentication, routing or persistence.
  - *websockets + SQLite*: the same server, each message stored in SQLite (WAL,
    `synchronous=NORMAL`) and the messages of one turn of the loop committed together
    before each is broadcast and acknowledged to its sender: the floor of durability,
    with nothing else of the gateway's work.
  - *python-socketio*: `AsyncServer(client_manager=AsyncRedisManager(...))` as an ASGI
    app on uvicorn, **two nodes** on one Redis; visitors on one node, agents on the
    other, so every message crosses Redis; `emit(..., room=..., skip_sid=sid)`.
  - *Django Channels*: an `AsyncWebsocketConsumer` that `group_send`s through
    `channels_redis.core.RedisChannelLayer`, one daphne process.
  Node's socket.io was not measured.
"""


def render(quick: bool) -> list[Path]:
    src = results_dir(quick)
    data = load(src)
    out_dir = src if quick else DOC_DIR
    doc = (src / "benchmarks.md") if quick else DOC
    plots = _plots(data, out_dir)
    parts = [
        "# Benchmarks",
        "",
        *(["**A quick smoke run: tiny sizes, not a measurement.**", ""] if quick else []),
        "<!-- Generated by `./scripts/bench report` (bench/report.py) from "
        "docs/benchmarks/*.json, which `./scripts/bench all` writes. Do not edit by hand. -->",
        "",
        "Everything here was measured in one run on the machine below, the gateway and its "
        "peers one after the other under the same load. Figures are named with their units; "
        "the JSON beside this page has every step.",
        "",
        "## The machine",
        "",
        _machine(data),
        "",
        "## Goals",
        "",
        _goals(data),
        "",
        "## Relay: the gateway beside its peers",
        "",
        relay_page.section(data["relay"], data.get("side-by-side"))
        if "relay" in data and "systems" in data["relay"]
        else "No relay results.",
        "",
        "### Where the time goes",
        "",
        _profile(data.get("relay", {})),
        "",
        WHERE_THE_TIME_GOES,
        relay_page.pinning(data.get("relay", {})),
        "### The hot path, before and after (issue 18)",
        "",
        hotpath_page.profiles(
            data.get("profile-before", {}),
            data.get("profile-after", {}),
            (data.get("profile-before2", {}), data.get("profile-after2", {})),
        ),
        "",
        "### The SQLite store alone (issue 18, the store's lane)",
        "",
        hotpath_page.SQLITE_LANE,
        "### The socket layer alone",
        "",
        hotpath_page.sockets(data.get("sockets", {})),
        "",
        "## Idle connections",
        "",
        _idle(data["idle"]) if "systems" in data.get("idle", {}) else "No idle results.",
        "",
        IDLE_NOTES,
        "## Contact center: two nodes, Redis, PostgreSQL",
        "",
        _contact_center(data["contact-center"])
        if "contact-center" in data
        else "No contact-center results.",
        "",
        "## Attachments: ten 25 MB uploads at once",
        "",
        attachments_page.section(data["attachments"])
        if "stores" in data.get("attachments", {})
        else "No attachments results.",
        "",
        "## Messaging webhooks: SMS in, replies out",
        "",
        webhooks.section(data.get("webhooks", {})),
        "",
        "## Automations",
        "",
        _automations(data.get("automations", {})),
        "",
        "## Abuse: attacks beside a conversation",
        "",
        ABUSE_INTRO,
        _abuse(data.get("abuse", {})),
        "",
        "## Router",
        "",
        _router(data.get("router", {})),
        "",
        "## Bus",
        "",
        _bus(data.get("bus", {})),
        "",
        "## How the figures are made",
        "",
        _method(data),
    ]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(parts))
    return [doc, *plots]
