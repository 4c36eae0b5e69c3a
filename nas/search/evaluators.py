"""Evaluators of the real search: what one trial costs.

* `MeasuredEvaluator` (`hwnas search`): the supernet's validation accuracy and a real latency
  measurement through the Profiler (stored measurements are reused, new ones are stored at once).
* `PredictedEvaluator`: the supernet's accuracy and a fitted predictor's latency, for studies that
  search on predictions and measure only the front afterwards (scripts/bench_joint_quant.py).

The benchmark tables' evaluator is nas.search.benchmark_tables.TableEvaluator.
"""

from __future__ import annotations

from typing import Any, Mapping

from nas.search.driver import Evaluation


class _SupernetAccuracy:
    with_size = False  # True: each evaluation also gives the deployed file's size (nas.models.file_size)

    def size_mb(self, config: Mapping[str, Any]) -> float | None:
        from nas.models.file_size import size_mb

        return size_mb(self.space, config) if self.with_size else None

    def __init__(self, space: Any, supernet: Any, dataset: Any, device: Any = None) -> None:
        """Accuracies run on `device` (default: the supernet's): a copy of the supernet lives there, the
        supernet itself stays where it is for extraction and export."""
        import copy

        from nas.models.device import module_device

        self.space, self.supernet, self.dataset = space, supernet, dataset
        moved = device is not None and module_device(supernet) != device
        self.evaluated = copy.deepcopy(supernet).to(device).eval() if moved else supernet

    def accuracy(self, config: Mapping[str, Any]) -> float:
        """Validation accuracy; a space that calibrates its sub-networks (BatchNorm) is evaluated on the
        calibrated extracted network."""
        from nas.models.evaluate import subnet_accuracy

        return subnet_accuracy(self.space, self.evaluated, config, self.dataset.x_val, self.dataset.y_val,
                               self.dataset.x_train)


class MeasuredEvaluator(_SupernetAccuracy):
    def __init__(self, space: Any, supernet: Any, dataset: Any, profiler: Any, device: Any = None,
                 with_size: bool = False) -> None:
        super().__init__(space, supernet, dataset, device)
        self.profiler, self.with_size = profiler, with_size

    def evaluate(self, config: Mapping[str, Any]) -> Evaluation:
        measured = self.profiler.measure(config)
        return Evaluation(self.accuracy(config), measured.latency_ms,
                          {"latency_source": "measured", "latency_iqr_ms": measured.measurement.iqr_ms,
                           "latency_cv": measured.measurement.cv, "latency_noisy": bool(measured.measurement.noisy)},
                          size_mb=self.size_mb(config))


class PredictedEvaluator(_SupernetAccuracy):
    """`predictor` may be a `predictors.IntervalPredictor`: each trial then keeps the latency's interval at
    `coverage` too (`predicted_latency_low_ms`, `predicted_latency_high_ms`)."""

    def __init__(self, space: Any, supernet: Any, dataset: Any, predictor: Any, device: Any = None,
                 coverage: float = 0.9, with_size: bool = False) -> None:
        super().__init__(space, supernet, dataset, device)
        self.predictor, self.coverage, self.with_size = predictor, coverage, with_size

    def evaluate(self, config: Mapping[str, Any]) -> Evaluation:
        predicted = float(self.predictor.predict([config])[0])
        attributes = {"latency_source": "predicted", "predicted_latency_ms": predicted}
        if hasattr(self.predictor, "predict_interval"):
            low, high = self.predictor.predict_interval([config], self.coverage)
            attributes.update({"predicted_latency_low_ms": float(low[0]), "predicted_latency_high_ms": float(high[0]),
                               "predicted_latency_interval_coverage": self.coverage})
        return Evaluation(self.accuracy(config), predicted, attributes, size_mb=self.size_mb(config))
