"""The attachments workload's part of docs/benchmarks.md: its section and its plot
(bench/report.py calls these with the figures of bench/attachments.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.attachments import ALLOWANCE, BOUNDS, FLAT_SLACK, MIB, TRANSFERS


def section(data: dict[str, Any]) -> str:
    cfg = data.get("config", {})
    sizes = cfg.get("sizes_mib", [])
    out = [
        f"{cfg.get('files')} visitors, each in their own conversation, upload a PDF at the "
        f"same moment (`POST /widget/attachments`, streamed with a Content-Length) to one "
        f"gateway process, in rounds: files of {' MiB, then '.join(map(str, sizes))} MiB "
        "each (the chat cap set to the largest). The "
        "server's VmRSS is sampled every 20 ms: the median of the half second before, the "
        "peak while the uploads run, and the median after they end (after a warm-up round of "
        f"{cfg.get('warmup_mib')} MiB files, so that first-use imports and connections are not counted). Local "
        "files, then S3 (moto's server; its memory is not counted). What stays resident "
        "after a round is memory the allocator keeps for reuse: the next round reuses it "
        "rather than growing further.",
        "",
        "Command: `./scripts/bench attachments --json docs/benchmarks/attachments.json`, "
        "then `./scripts/bench report` (or `./scripts/bench all`).",
        "",
    ]
    rows = []
    for name, r in data.get("stores", {}).items():
        if "error" in r:
            rows.append([name, "failed: " + r["error"][:100], "", "", "", "", ""])
            continue
        for s in r["steps"]:
            rows.append(
                [
                    name,
                    f"{s['stored']} of {s['files']} x {s['file_bytes'] / MIB:g} MiB",
                    f"{s['upload_s']:.1f} s ({s['mib_per_s']:g} MiB/s)",
                    f"{s['rss_before_bytes'] / MIB:.1f}",
                    f"{s['rss_peak_bytes'] / MIB:.1f}",
                    f"+{s['growth_peak_bytes'] / MIB:.1f}",
                    f"{s['rss_after_bytes'] / MIB:.1f}",
                ]
            )
    out.append(
        "| store | files at once | all stored in | RSS before MiB | peak MiB | growth MiB "
        "| after MiB |\n|---|---|---|---|---|---|---|\n"
        + "\n".join("| " + " | ".join(r) + " |" for r in rows)
    )
    out += [
        "",
        "The bound (`bench/attachments.py` `BOUNDS`): in every round the peak may exceed "
        f"the RSS before by at most {ALLOWANCE // MIB} MiB on local files and "
        f"{BOUNDS['s3'] // MIB} MiB on S3 (two 5 MiB parts for each of the {TRANSFERS} "
        "uploads sent at once); the largest files may cost at most "
        f"{FLAT_SLACK // MIB} MiB more than the smallest, and what stays resident after "
        f"the last round at most {FLAT_SLACK // MIB} MiB more than after the round before:",
        "",
    ]
    rows = []
    for name, g in data.get("goals", {}).items():
        if "bound_bytes" not in g:
            rows.append([name, "—", "—", "—", "—", "**not met**"])
            continue
        rows.append(
            [
                name,
                f"+{g['growth_peak_bytes'] / MIB:.1f} MiB",
                f"{g['bound_bytes'] / MIB:.0f} MiB",
                "yes" if g["flat_across_sizes"] else "no",
                f"{g['after_growth_last_round_bytes'] / MIB:+.1f} MiB",
                "**met**" if g["met"] else "**not met**",
            ]
        )
    out.append(
        "| store | largest growth | bound | flat across sizes | kept after the last "
        "round | |\n|---|---|---|---|---|---|\n"
        + "\n".join("| " + " | ".join(r) + " |" for r in rows)
    )
    out += ["", "![server RSS during the uploads](benchmarks/attachments-rss.png)"]
    return "\n".join(out)


def plot(data: dict[str, Any], out_dir: Path, plt: Any) -> Path | None:
    stores = {n: r for n, r in data.get("stores", {}).items() if r.get("steps")}
    if not stores:
        return None
    fig, axes = plt.subplots(1, len(stores), figsize=(4.5 * len(stores), 3.6), squeeze=False)
    for ax, (name, r) in zip(axes[0], stores.items(), strict=True):
        for s in r["steps"]:
            xs = [p[0] - s["uploads_from_s"] for p in s["curve"]]
            ax.plot(
                xs,
                [p[1] for p in s["curve"]],
                label=f"{s['files']} x {s['file_bytes'] / MIB:g} MiB",
            )
        ax.axvline(0, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{name}: server RSS, uploads start at 0 s", fontsize=9)
        ax.set_xlabel("seconds")
        ax.set_ylabel("RSS (MiB)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "attachments-rss.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
