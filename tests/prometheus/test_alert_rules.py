"""The chart's alerting rules are valid and every alert is unit-tested with promtool
(alerts_test.yaml): firing when it should and silent when it should not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.prometheus import promtool

HERE = Path(__file__).parent
RULES_FILE = HERE.parents[1] / "charts" / "leaderboard" / "rules" / "alerts.yaml"
UNIT_TESTS = HERE / "alerts_test.yaml"


def _alerts() -> set[str]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def _cases() -> list[dict[str, Any]]:
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    return [case for test in tests for case in test.get("alert_rule_test", [])]


def test_the_unit_tests_load_the_charts_rules_file() -> None:
    rule_files = yaml.safe_load(UNIT_TESTS.read_text())["rule_files"]
    assert [(HERE / path).resolve() for path in rule_files] == [RULES_FILE.resolve()]


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    cases = _cases()
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    silent = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert _alerts() - firing == set(), "alerts never shown firing"
    assert _alerts() - silent == set(), "alerts never shown silent"
    assert {case["alertname"] for case in cases} <= _alerts(), "tests of unknown alerts"


def test_every_firing_case_checks_labels_and_annotations() -> None:
    for case in _cases():
        for alert in case.get("exp_alerts") or []:
            assert alert["exp_labels"].get("severity"), case
            assert set(alert["exp_annotations"]) == {"summary", "description"}, case


def test_promtool_accepts_the_rules_file() -> None:
    output = promtool("check", "rules", RULES_FILE)
    assert f"SUCCESS: {len(_alerts())} rules found" in output


def test_promtool_unit_tests_of_every_alert_pass() -> None:
    output = promtool("test", "rules", UNIT_TESTS.name, cwd=HERE)
    assert "SUCCESS" in output
