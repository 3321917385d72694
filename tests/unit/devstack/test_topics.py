"""The local stack's topic layout: what the chart's KafkaTopics also create."""

from leaderboard.core.config import LeaderboardSettings, load_settings
from leaderboard.devstack.topics import GAME_SCORE_PARTITIONS, topic_specs


def test_topic_layout_follows_the_settings_names() -> None:
    settings = load_settings(LeaderboardSettings, topic_game_score="scores")
    specs = {spec.name: spec for spec in topic_specs(settings)}
    assert set(specs) == {
        "scores",
        "game-score.dlq",
        "leaderboard-change",
        "leaderboard",
        "leaderboard-definitions",
        "player-erasures",
        "leaderboard-period-closed",
    }
    assert specs["scores"].partitions == GAME_SCORE_PARTITIONS > 1
    assert {spec.replication_factor for spec in specs.values()} == {1}
    assert specs["leaderboard"].config["cleanup.policy"] == "compact"
    assert specs["leaderboard-definitions"].config["cleanup.policy"] == "compact"
    # One message per closed period, never replaced: kept whole, not compacted.
    assert specs["leaderboard-period-closed"].partitions == 1
    assert "cleanup.policy" not in specs["leaderboard-period-closed"].config
