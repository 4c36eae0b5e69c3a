"""Evaluators of the real search: what one trial costs.

* `MeasuredEvaluator` (`hwnas search`): the supernet's validation accuracy and a real latency
  measurement through the Profiler (stored measurements are reused, new ones are stored at once).
* `PredictedEvaluator`: the supernet's accuracy and a fitted predictor's latency, for studies that
  search on predictions and measure only the front afterwards (scripts/bench_joint_quant.py).

The benchmark tables' evaluator is nas.benchmark_tables.TableEvaluator.
"""

from __future__ import annotations

from typing import Any, Mapping

from nas.search import Evaluation


class _SupernetAccuracy:
    def __init__(self, supernet: Any, dataset: Any) -> None:
        self.supernet, self.dataset = supernet, dataset

    def accuracy(self, config: Mapping[str, Any]) -> float:
        from nas.evaluate import supernet_accuracy

        return supernet_accuracy(self.supernet, config, self.dataset.x_val, self.dataset.y_val)


class MeasuredEvaluator(_SupernetAccuracy):
    def __init__(self, supernet: Any, dataset: Any, profiler: Any) -> None:
        super().__init__(supernet, dataset)
        self.profiler = profiler

    def evaluate(self, config: Mapping[str, Any]) -> Evaluation:
        measured = self.profiler.measure(config)
        return Evaluation(self.accuracy(config), measured.latency_ms,
                          {"latency_source": "measured", "latency_iqr_ms": measured.measurement.iqr_ms,
                           "latency_cv": measured.measurement.cv, "latency_noisy": bool(measured.measurement.noisy)})


class PredictedEvaluator(_SupernetAccuracy):
    def __init__(self, supernet: Any, dataset: Any, predictor: Any) -> None:
        super().__init__(supernet, dataset)
        self.predictor = predictor

    def evaluate(self, config: Mapping[str, Any]) -> Evaluation:
        predicted = float(self.predictor.predict([config])[0])
        return Evaluation(self.accuracy(config), predicted,
                          {"latency_source": "predicted", "predicted_latency_ms": predicted})
