#!/usr/bin/env python3
"""Renders bench/simulate.sh's results (one JSON summary per simulated run in results.jsonl)
as a Markdown table (table.md) and plots (scaling.png: completion ÷ bound against N, beside
Kraken's published result; bytes-over-time.png: origin and peer bytes of the 1 GiB
rollout to 1,000 nodes) in the same directory. matplotlib is optional: without it only the table.

    bench/simulate_report.py bench/results/simulate-20261202-1900
"""
import csv
import json
import sys
from pathlib import Path

# Kraken (uber/kraken README): 3 GB to 2,600 hosts at a 300 MB/s cap; ÷ size/cap (10 s).
KRAKEN = {"nodes": 2600, "p50": 1.0, "p99": 1.8, "p99.9": 2.2}


def size(b):
    for unit, m in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if b >= m:
            return f"{b / m:g} {unit}"
    return f"{b} B"


def rows(path):
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            yield r["scenario"], r["summary"], r["wallSeconds"]


def table(results):
    out = ["| scenario | N | image | piece | rate | bound | p50 | p99 | max | origin ÷ S | busiest coordinator: announces/s (load) | its wait p99 | holders | memory | incomplete | wall |",
           "|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for scenario, s, wall in results:
        rate = f"{s['nodeRate'] * 8 / 1e6:g} Mbit/s"
        extra = f" (slow nodes: max {s['slowMax']:.2f} × own bound)" if s.get("slowMax") else ""
        if s.get("coordinatorMicrosPerMessage"):
            extra += f" (seed {s.get('seed', 1)}; coordinator {s['coordinatorMicrosPerMessage']:.1f} µs per message, measured)"
        out.append(
            f"| {scenario}{extra} | {s['nodes']} | {size(s['imageBytes'])} | {size(s['pieceSize'])} | {rate} | {s['boundSeconds']:.1f} s"
            f" | {float(s['p50']):.2f} | {float(s['p99']):.2f} | {float(s['max']):.2f} | {float(s['originRatio']):.2f}"
            f" | {s['peakAnnouncesPerSecond']} ({s['peakCoordinatorLoad'] * 100:.0f}%) | {s['coordinatorWaitP99'] * 1000:.0f} ms"
            f" | {s['coordinatorPeakHolders']} | {size(s['coordinatorPeakMemoryBytes']) if s['coordinatorPeakMemoryBytes'] >= 1 << 20 else str(s['coordinatorPeakMemoryBytes'] // 1024) + ' KiB'}"
            f" | {s['incomplete']} | {wall:.0f} s |")
    out.append("")
    out.append(f"Kraken, published: 3 GB to {KRAKEN['nodes']} hosts at a 300 MB/s cap: p50 {KRAKEN['p50']} ×, p99 {KRAKEN['p99']} ×, p99.9 {KRAKEN['p99.9']} × size ÷ cap.")
    return "\n".join(out) + "\n"


def plots(out, results):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: table only (scripts/install-deps.sh --bench installs it)")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for scenario, marker in (("check", "s"), ("scale-100m", "d"), ("scale-1g", "o"), ("scale-10g", "^"), ("mesh-scale-1g", "P")):
        pts = sorted(((s["nodes"], s) for sc, s, _ in results if sc == scenario and s.get("seed", 1) == 1), key=lambda p: p[0])
        if not pts:
            continue
        n = [p[0] for p in pts]
        for key, style in (("max", "-"), ("p99", "--"), ("p50", ":")):
            ax.plot(n, [float(p[1][key]) for p in pts], style, marker=marker, label=f"{scenario} {key}")
    for key, y in (("p50", KRAKEN["p50"]), ("p99", KRAKEN["p99"]), ("p99.9", KRAKEN["p99.9"])):
        ax.scatter([KRAKEN["nodes"]], [y], color="black", marker="x")
        ax.annotate(f"Kraken {key}", (KRAKEN["nodes"], y), textcoords="offset points", xytext=(6, -3), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("nodes")
    ax.set_ylabel("completion ÷ bound")
    ax.set_title("Simulated cold rollout (PeerPull's scheduler and coordinator)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "scaling.png", dpi=110)
    samples = out / "bytes-over-time.csv"
    if samples.exists():
        t, o, p = [], [], []
        with samples.open() as f:
            for r in csv.DictReader(f):
                t.append(float(r["seconds"]))
                o.append(float(r["origin_bytes"]) / (1 << 30))
                p.append(float(r["peer_bytes"]) / (1 << 30))
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(t, o, label="from the origin")
        ax.plot(t, p, label="from peers")
        ax.set_xlabel("seconds")
        ax.set_ylabel("GiB sent (cumulative)")
        ax.set_yscale("symlog")
        ax.set_title("Bytes by source, simulated 1 GiB rollout to 1,000 nodes")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "bytes-over-time.png", dpi=110)


def main():
    out = Path(sys.argv[1])
    order = {"check": 0, "scale-100m": 1, "scale-1g": 2, "scale-10g": 3, "faults": 4, "rolling": 5}
    results = sorted(rows(out / "results.jsonl"), key=lambda r: (order.get(r[0], 9), r[1]["nodes"]))
    md = table(results)
    (out / "table.md").write_text(md)
    print(md)
    plots(out, results)


if __name__ == "__main__":
    main()
