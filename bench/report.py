#!/usr/bin/env python3
"""Renders a rollout benchmark's results (bench/swarm-rollout.sh writes one JSON object per
system and run to results.jsonl) as a Markdown table and PNG plots in the same directory.

    bench/report.py bench/results/rollout-20261202-1400

Per system and N it shows p50/p99/max node time ÷ the bound T*, origin bytes ÷ image size,
CPU seconds per GiB pulled of the system's per-node process (agent, proxy registry or aria2c), its peak RSS
and how busy the machine's cores were; medians over the runs. Plots: the distribution of
node completion times per system (one panel per N), and the first PeerPull run's bytes by
source over time (bytes-over-time.png, from the bench's link counters). matplotlib is optional: without it only
the table is written.
"""
import json
import statistics
import sys
from pathlib import Path

ORDER = {"direct": 0, "proxy-cache": 1, "peerpull": 2, "bittorrent": 3, "peerpull-rolling": 4, "direct-small": 5, "peerpull-small": 6}
LABEL = {"direct": "direct from the origin", "proxy-cache": "pull-through cache per node (docker-registry proxy)",
         "peerpull": "PeerPull", "bittorrent": "BitTorrent (aria2c + opentracker)",
         "peerpull-rolling": "PeerPull, rolling update (÷ one node's bound)",
         "direct-small": "direct, 10 MiB image", "peerpull-small": "PeerPull, 10 MiB image"}
# Plotted: the systems compared on the same image and start.
PLOTTED = {"direct", "proxy-cache", "peerpull", "bittorrent"}


def quantile(sorted_values, q):
    # The nearest-rank quantile, as the bench's shell summary prints it.
    k = max(1, min(len(sorted_values), int(len(sorted_values) * q + 0.999)))
    return sorted_values[k - 1]


def summarize(run):
    times = sorted(run["node_seconds"])
    bound = run["bound_seconds"]
    return {
        "p50": quantile(times, 0.5) / bound,
        "p99": quantile(times, 0.99) / bound,
        "max": times[-1] / bound,
        "origin": run["origin_bytes"] / run["image_bytes"],
        "cpu": run.get("cpu_seconds_per_gib"),
        "rss": run.get("peak_rss_mib"),
        "busy": run.get("busy_percent"),
    }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, pattern):
    return "–" if value is None else pattern.format(value)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench/report.py RESULTS_DIR (holding results.jsonl)")
    out = Path(sys.argv[1])
    runs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    if not runs:
        sys.exit(f"{out}/results.jsonl holds no runs")
    groups = {}
    for run in runs:
        cc = run.get("congestion", "host")
        groups.setdefault((run["nodes"], cc != "host", cc, ORDER.get(run["system"], 9), run["system"]), []).append(run)

    def label(system, cc):
        return LABEL.get(system, system) + ("" if cc == "host" else f", TCP {cc}")

    first = runs[0]
    piece = next((r["piece"] for r in runs if r["system"] == "peerpull"), "–")
    lines = [
        f"Image {max(r['image_bytes'] for r in runs) / 2**20:.0f} MiB (the small-image rows: 10 MiB), nodes at {first['rate']} each way, origin at "
        f"{first['origin_rate']}, PeerPull's pieces {piece}, BitTorrent's 1 MiB; T* = max(S/R₀, S/R, N·S/(R₀+N·R)).",
        "",
        "| N | T* | system | p50 / p99 / max ÷ T* | origin bytes ÷ image | CPU s per GiB pulled | peak RSS | cores busy | runs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (nodes, _, cc, _, system), group in sorted(groups.items()):
        s = [summarize(r) for r in group]
        lines.append(
            f"| {nodes} | {group[0]['bound_seconds']:.1f} s | {label(system, cc)} | "
            f"{median([x['p50'] for x in s]):.2f} / {median([x['p99'] for x in s]):.2f} / {median([x['max'] for x in s]):.2f} | "
            f"{median([x['origin'] for x in s]):.2f}× | {fmt(median([x['cpu'] for x in s]), '{:.1f} s')} | "
            f"{fmt(median([x['rss'] for x in s]), '{:.0f} MiB')} | {fmt(median([x['busy'] for x in s]), '{:.0f} %')} | {len(group)} |"
        )
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(matplotlib is not installed: no plots; pip install matplotlib)", file=sys.stderr)
        return
    sizes = sorted({r["nodes"] for r in runs})
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.5 * len(sizes), 3.6), squeeze=False)
    for ax, nodes in zip(axes[0], sizes):
        for (n, _, cc, _, system), group in sorted(groups.items()):
            if n != nodes or system not in PLOTTED:
                continue
            ratios = sorted(t / r["bound_seconds"] for r in group for t in r["node_seconds"])
            ax.step(ratios, [(i + 1) / len(ratios) for i in range(len(ratios))], where="post", label=label(system, cc),
                    linestyle="-" if cc == "host" else "--")
        ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"N = {nodes}")
        ax.set_xlabel("node completion time ÷ T*")
        ax.set_xlim(left=0)
        ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("share of nodes done")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "completion-times.png", dpi=110)
    print(f"wrote {out}/table.md and {out}/completion-times.png")
    plot_bytes_over_time(out, plt)


def plot_bytes_over_time(out, plt):
    """The first PeerPull run per N: the rate at which the origin and the nodes (peers) sent,
    from the link counters the bench sampled every 0.5 s (bytes-over-time-nN.txt)."""
    # bytes-over-time-<congestion>-n<N>.txt
    files = sorted(out.glob("bytes-over-time-*-n*.txt"), key=lambda f: (f.stem.split("-")[3] != "host", int(f.stem.rsplit("n", 1)[1])))
    if not files:
        return
    cols = min(3, len(files))
    rows_n = (len(files) + cols - 1) // cols
    fig, grid = plt.subplots(rows_n, cols, figsize=(4.5 * cols, 3.4 * rows_n), squeeze=False)
    axes = [[a for row in grid for a in row]]
    for ax, f in zip(axes[0], files):
        rows = [tuple(map(float, line.split())) for line in f.read_text().splitlines() if len(line.split()) == 3]
        if len(rows) < 2:
            continue
        t0 = rows[0][0]
        times, origin, peers = [], [], []
        for (ta, oa, pa), (tb, ob, pb) in zip(rows, rows[1:]):
            times.append(tb - t0)
            origin.append((ob - oa) * 8 / (tb - ta) / 1e6)
            peers.append((pb - pa) * 8 / (tb - ta) / 1e6)
        ax.plot(times, peers, label="sent by the nodes (peers)")
        ax.plot(times, origin, label="sent by the origin")
        cc = f.stem.split("-")[3]
        ax.set_title(f"N = {f.stem.rsplit('n', 1)[1]}, PeerPull" + ("" if cc == "host" else f", TCP {cc}"))
        ax.set_xlabel("seconds since the pull began")
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("Mbit/s")
    axes[0][-1].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "bytes-over-time.png", dpi=110)
    print(f"wrote {out}/bytes-over-time.png")


if __name__ == "__main__":
    main()
