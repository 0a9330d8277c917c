"""Print the markdown table of docs/performance.md from a results file:
`python -m bench.report [bench/results/latest.json]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.common import RESULTS


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| | figure | ratio | goal | result | inputs | repetitions |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        if r["status"] in ("skipped", "error"):
            lines.append(f"| {r['id']} | {r.get('reason', '')[:120]} | | | {r['status']} | | |")
            continue
        verdict = "**pass**" if r.get("passed") else "**FAIL**"
        lines.append(
            f"| {r['id']} | {r.get('figure', '')} | {r.get('ratio', '')} | {r.get('goal', '')} | {verdict} "
            f"| {r.get('inputs', '')} | {r.get('repetitions', 1)} |"
        )
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS / "latest.json"
    print(markdown(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
