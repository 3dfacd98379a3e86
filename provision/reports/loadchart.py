"""The load's figures as a chart (SVG, matplotlib): throughput and latency per concurrency, the knee
marked, and the unix/TCP rounds side by side; a picture people read at a glance."""

import io

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from provision.reports.record import Load

COLOURS = {"unix": "#0550ae", "tcp": "#9a6700"}


def _levels(load: Load, throughput: Axes, latency: Axes) -> None:
    connections = [f.connections for f in load.levels]
    throughput.plot(connections, [f.rps for f in load.levels], marker="o", color="#6e7781", label="all answers")
    throughput.plot(connections, [f.served_rps for f in load.levels], marker="o", color="#1a7f37", label="2xx")
    throughput.legend(loc="lower right")
    throughput.set(title="throughput through nginx", xlabel="connections at once", ylabel="requests/s", xscale="log")
    throughput.set_ylim(bottom=0)
    for name, values, style in (
        ("p50", [f.p50_ms for f in load.levels], "-"),
        ("p95", [f.p95_ms for f in load.levels], "--"),
        ("p99", [f.p99_ms for f in load.levels], ":"),
    ):
        latency.plot(connections, values, style, marker="o", label=name, color="#222222")
    latency.set(title="latency", xlabel="connections at once", ylabel="ms (log)", xscale="log", yscale="log")
    latency.legend(loc="upper left")
    for ax in (throughput, latency):
        ax.set_xticks(connections, [str(c) for c in connections])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
        if load.knee is not None:
            ax.axvline(load.knee, color="#cf222e", linewidth=1.5)
            ax.annotate(
                f"first errors: {load.knee}", (load.knee, 0.95), xycoords=("data", "axes fraction"),
                ha="right", va="top", color="#cf222e", xytext=(-4, 0), textcoords="offset points",
            )  # fmt: skip


def _rounds(load: Load, ax: Axes) -> None:
    labels = [f"{i + 1}: {r.socket}" for i, r in enumerate(load.rounds)]
    bars = ax.bar(labels, [r.figures.rps for r in load.rounds], color=[COLOURS[r.socket] for r in load.rounds])
    ax.bar_label(bars, fmt="%.0f")
    connections = load.rounds[0].figures.connections
    ax.set(title=f"unix socket vs TCP ({connections} connections)", ylabel="requests/s")
    ax.set_ylim(0, max(r.figures.rps for r in load.rounds) * 1.12)  # room for the bars' labels under the title
    ax.grid(alpha=0.3, axis="y")


def chart_svg(load: Load) -> str:
    """The chart as SVG text; "" when there are no figures to draw."""
    if not load.levels and not load.rounds:
        return ""
    panels = int(bool(load.levels)) * 2 + int(bool(load.rounds))
    fig = Figure(figsize=(5 * panels, 4), layout="constrained")
    axes = list(fig.subplots(1, panels)) if panels > 1 else [fig.subplots()]
    if load.levels:
        _levels(load, axes[0], axes[1])
    if load.rounds:
        _rounds(load, axes[-1])
    out = io.StringIO()
    # No timestamp, and element ids from a fixed salt rather than a random one: the same figures, the same file.
    with rc_context({"svg.hashsalt": "rehearse"}):
        fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()
