"""The gateway's close code label takes a fixed set of values, whatever clients send."""

import pytest

from leaderboard.gateway.metrics import CLOSE_CODES, close_code_label


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (1000, "1000"),
        (1006, "1006"),
        (1012, "1012"),
        (1002, "other"),
        (4999, "other"),
        (None, "unknown"),
    ],
)
def test_close_codes_map_to_a_bounded_label(code: int | None, label: str) -> None:
    assert close_code_label(code) == label


def test_every_label_value_is_known() -> None:
    labels = {close_code_label(code) for code in range(0, 5000)} | {close_code_label(None)}
    assert labels == {str(code) for code in CLOSE_CODES} | {"other", "unknown"}
