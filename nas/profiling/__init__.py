"""Profiling: extract -> ONNX -> a pool worker times it -> the measurement store; and the strategies that
choose which sub-networks to profile (`STRATEGIES`)."""
