"""The search: an Optuna study whose budget counts real evaluations (driver), the samplers by name
(`SAMPLERS`, the guided sampler's internals in `guided/`), what a trial costs (evaluators), the measured
front, and benchmark mode on published tables."""
