"""The audit's line in the model cards: a damaged card is left as it is (found by the audit fuzz test)."""

import json

from nas.audit.cards import add_audit_to_cards


def test_a_card_lacking_what_its_page_needs_is_left_as_it_is(tmp_path):
    damaged = {"config_id": "abc", "preprocessing": {"channels": 1}}  # fields missing, as a spliced index.json
    (tmp_path / "index.json").write_text(json.dumps([damaged]))
    rows = [{"config_id": "abc", "standalone_test_accuracy": 0.9, "inherited_test_accuracy": 0.8}]
    assert add_audit_to_cards(tmp_path, rows, {"networks": 1, "kendall_tau": None}) == []
    assert json.loads((tmp_path / "index.json").read_text()) == [damaged]
    assert not (tmp_path / "abc.md").exists() and not (tmp_path / "abc.json").exists()
