"""The export's table and model card tell a user when a model's re-timed latency does not confirm the
search's measurement (the machine's timings drifted in between)."""

from nas.search.front import latency_differs
from nas.export.model_card import card_markdown
from nas.pipeline import format_models_table


def _card(config_id: str, latency_ms: float, search_latency_ms: float | None) -> dict:
    return {"config_id": config_id, "latency_ms": latency_ms, "search_latency_ms": search_latency_ms,
            "latency_differs_from_search": None if search_latency_ms is None
            else latency_differs(search_latency_ms, latency_ms),
            "int8_layers": 4, "val_accuracy": 0.9, "test_accuracy_torch": 0.91, "test_accuracy_onnxruntime": 0.91,
            "max_abs_logit_difference": 1e-3, "parameters": 1000, "file_bytes": 4096, "verified": True,
            "space": {"name": "vit", "version": 1}, "trial": 3, "macs": 2e6, "hardware_profile": "x86-cpu-ort",
            "profile_fingerprint": "0123456789abcdef", "latency_runs": 500, "latency_iqr_ms": 0.001,
            "predicted_latency_ms": None, "artifacts": {}, "config": {"depth": 1}}


def test_a_retiming_more_than_a_tenth_away_differs_either_way():
    assert not latency_differs(0.2, 0.219) and not latency_differs(0.2, 0.181)
    assert latency_differs(0.2, 0.221) and latency_differs(0.2, 0.179)


def test_the_table_marks_and_counts_models_whose_retiming_differs_from_the_search():
    cards = [_card("a" * 16, 0.120, 0.118), _card("b" * 16, 0.300, 0.200), _card("c" * 16, 0.150, None)]
    lines = format_models_table(cards).splitlines()
    assert "searched ms" in lines[0]
    rows = {line[:16]: line for line in lines[2:5]}
    assert "0.3000!" in rows["b" * 16] and "0.2000" in rows["b" * 16]
    assert "!" not in rows["a" * 16] and "!" not in rows["c" * 16] and " -" in rows["c" * 16]
    assert lines[5].startswith("! 1 of 3 models re-timed more than 10% away")


def test_a_quiet_table_has_no_warning_and_the_card_says_when_timings_drifted():
    assert "!" not in format_models_table([_card("a" * 16, 0.120, 0.118)])
    assert "drifted" in card_markdown(_card("b" * 16, 0.300, 0.200))
    assert "drifted" not in card_markdown(_card("a" * 16, 0.120, 0.118))
