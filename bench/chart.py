"""docs/perf_chart.png: one panel per benchmark, its bars against its goal (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render(results: list[dict[str, Any]], path: Path) -> bool:
    """Draw the panels of the results that carry `bars`; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [r for r in results if r.get("bars")]
    if not panels:
        return True
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False)
    for ax, r in zip(axes[0], panels, strict=True):
        labels = [b[0] for b in r["bars"]]
        values = [b[1] for b in r["bars"]]
        colors = [b[2] if len(b) > 2 else "#4C72B0" for b in r["bars"]]
        ax.bar(range(len(values)), values, color=colors)
        ax.set_xticks(range(len(values)), labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(r.get("unit", ""), fontsize=8)
        verdict = "pass" if r.get("passed") else "FAIL"
        ax.set_title(f"{r['id']}: ratio {r.get('ratio')} (goal {r.get('goal')}) {verdict}", fontsize=9)
        if r.get("limit") is not None:
            ax.axhline(r["limit"], color="#C44E52", linestyle="--", linewidth=1)
            ax.text(len(values) - 0.5, r["limit"], r.get("limit_label", "goal"), color="#C44E52",
                    fontsize=7, ha="right", va="bottom")  # fmt: skip
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}", ha="center", va="bottom", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle("adspipe benchmarks (python -m bench)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
