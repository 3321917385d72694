"""The values table of charts/leaderboard/README.md, made from the `@param` lines of
values.yaml. ``uv run --frozen python -m tests.k8s.values_doc`` prints it (paste it into
the README after changing values.yaml; tests/k8s/test_chart.py checks they agree)."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import yaml

from tests.k8s.harness import CHART_DIR

PARAM = re.compile(r"^\s*## @param (\S+) (.+)$")
SECTION = re.compile(r"^## @section (.+)$")


def _lookup(values: Any, path: str) -> Any:
    for key in path.split("."):
        values = values[key]
    return values


def _shown(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "))
    if len(text) > 60:
        text = text[:57] + "..."
    return "`" + text.replace("|", "\\|") + "`"


def values_table() -> str:
    text = (CHART_DIR / "values.yaml").read_text()
    values = yaml.safe_load(text)
    lines: list[str] = []
    for line in text.splitlines():
        section = SECTION.match(line)
        if section:
            lines += ["", f"### {section.group(1)}", "", "| value | description | default |"]
            lines.append("| --- | --- | --- |")
            continue
        param = PARAM.match(line)
        if param:
            path, description = param.group(1), param.group(2).strip().replace("|", "\\|")
            lines.append(f"| `{path}` | {description} | {_shown(_lookup(values, path))} |")
    return "\n".join(lines).strip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(values_table())
