"""Test accuracy of a trained run's largest and smallest sub-networks (each at every precision the space
offers), evaluated as export evaluates them (extracted, calibrated when the space asks). Prints JSON.

    python scripts/evaluate_corners.py --run runs/mbv3-mnist
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    from nas.models.evaluate import accuracy, evaluation_network, predict_logits
    from nas.pipeline import open_run
    from nas.run_folder import RunFolder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    args = parser.parse_args()
    space, supernet, dataset = open_run(RunFolder(Path(args.run)))
    results = {"run": args.run, "space": space.name, "dataset": dataset.name, "networks": []}
    for config in space.anchors():
        network = evaluation_network(space, supernet, config, dataset.x_train)
        results["networks"].append({
            "config_id": space.config_id(config), "config": config,
            "val_accuracy": accuracy(predict_logits(network, dataset.x_val), dataset.y_val),
            "test_accuracy": accuracy(predict_logits(network, dataset.x_test), dataset.y_test),
            "macs": space.cost_features(config).get("macs"),
        })
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
