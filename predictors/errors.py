"""Errors raised by predictors: one line, naming what is wrong and what is allowed."""


class PredictorError(ValueError):
    """An unknown predictor name, or a predictor file that cannot be loaded."""
