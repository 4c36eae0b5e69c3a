"""Registry of predictors: `@register_predictor("gbdt")` and `create_predictor("gbdt", **hyper_parameters)`.
A registered estimator class knows its name as `registered_name`."""

from __future__ import annotations

from nas.registry import Registry

PREDICTORS: Registry[type] = Registry("predictor", attribute="registered_name")

register_predictor = PREDICTORS.register
predictor_names = PREDICTORS.names
predictor_class = PREDICTORS.get
# An unfitted predictor; an unknown name or hyper-parameter raises RegistryError naming it.
create_predictor = PREDICTORS.create
