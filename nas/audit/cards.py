"""The audit's line in the model cards of an export (RUN/models/): each audited network's card gets an
`audit` record and its markdown page the sentence that says it (nas.export.model_card.audit_sentence)."""

from __future__ import annotations

import json
from pathlib import Path

from nas.export.model_card import card_markdown
from nas.run_folder import write_atomically

AUDIT_KEYS = ("standalone_test_accuracy", "inherited_test_accuracy", "gap_points", "standalone_epochs",
              "finetuned_test_accuracy", "standalone_sd_points")


def add_audit_to_cards(folder: Path, rows: list[dict], summary: dict) -> list[str]:
    """Add the audit to the cards (JSON, markdown and index.json) of the audited networks that `folder`
    holds; returns their config ids. A folder without an export, or a card that is not valid JSON or lacks
    what its markdown page needs (a damaged index.json), is left as it is."""
    index_path = Path(folder) / "index.json"
    if not index_path.is_file():
        return []
    try:
        index = json.loads(index_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return []
    if not isinstance(index, list):
        return []
    audited = {row["config_id"]: {**{key: row.get(key) for key in AUDIT_KEYS},
                                  "networks": summary["networks"], "kendall_tau": summary["kendall_tau"]}
               for row in rows}
    updated = []
    for position, card in enumerate(index):
        if not isinstance(card, dict) or card.get("config_id") not in audited:
            continue
        card = {**card, "audit": audited[card["config_id"]]}
        try:
            markdown = card_markdown(card)
        except (KeyError, TypeError, ValueError, AttributeError):  # a damaged card (fields missing or mistyped)
            continue
        index[position] = card
        write_atomically(Path(folder) / f"{card['config_id']}.json", json.dumps(card, indent=2, sort_keys=True))
        write_atomically(Path(folder) / f"{card['config_id']}.md", markdown)
        updated.append(card["config_id"])
    if updated:
        write_atomically(index_path, json.dumps(index, indent=2, sort_keys=True))
    return updated
