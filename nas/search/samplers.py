"""Samplers by name: every Optuna sampler that fits a two-objective categorical search, and ours (`guided`).

`@register_sampler(name, description)` adds a factory to `SAMPLERS`; `create_sampler(name, context)` builds one. A factory takes a
`SamplerContext` (seed, and what a model-based sampler needs to know about the space). Budgets reach
Optuna's samplers as each trial's constraints (`Trial.set_constraint`, set by the search driver), which
they read from the study. A sampler that cannot run here (`auto` without OptunaHub) raises HwnasError saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from nas.errors import HwnasError
from nas.registry import Registry

NSGA_POPULATION = 24  # small populations: our budgets are 50 to a few hundred evaluations


@dataclass(frozen=True)
class SamplerContext:
    seed: int = 0
    space: Any = None  # the SearchSpace whose configs are searched (model-based samplers need it)
    fixed: Mapping[str, Any] = field(default_factory=dict)  # choices held fixed (not Optuna parameters)
    latency_budget: float | None = None  # hard budget on the second objective (latency), if any
    prior_latencies: tuple = ()  # (config, latency_ms) measured outside the study, e.g. by `hwnas profile`
    candidates: tuple = ()  # when given, the only networks that exist (a benchmark table's rows)
    focus: bool = True  # guided: three picks in four favour the front's accurate, not slowest part (False: none do)
    # guided: per-block precision sensitivity (nas.models.sensitivity's `increase`), a feature of the accuracy
    # surrogate (the summed sensitivity of a config's lowered blocks); None: not used (the default)
    sensitivity: Mapping[str, Mapping[str, float]] | None = None


# name -> factory(SamplerContext) -> an Optuna sampler; each factory carries a one-line `description`
SAMPLERS: Registry = Registry("sampler")


def register_sampler(name: str, description: str) -> Callable[[Callable], Callable]:
    return SAMPLERS.register(name, description=description)


sampler_names = SAMPLERS.names


def describe_samplers() -> str:
    return "; ".join(f"{name}: {SAMPLERS.describe(name)}" for name in sampler_names())


def create_sampler(name: str, context: SamplerContext = SamplerContext()) -> Any:
    return SAMPLERS.create(name, context)


@register_sampler("guided", "predictor-in-the-loop: surrogates fitted on the measured networks choose what to "
                            "measure next (ours; the default)")
def _guided(context: SamplerContext) -> Any:
    from nas.search.guided.sampler import GuidedSampler, GuidedSettings

    if context.space is None:
        raise HwnasError("the guided sampler needs the search space (SamplerContext.space)")
    settings = GuidedSettings() if context.focus else GuidedSettings(focus_accuracy_quantile=None,
                                                                     focus_latency_quantile=None)
    return GuidedSampler(context.space, seed=context.seed, fixed=context.fixed,
                         latency_budget=context.latency_budget, prior_latencies=context.prior_latencies,
                         candidates=context.candidates, settings=settings, sensitivity=context.sensitivity)


@register_sampler("nsga2", "Optuna NSGA-II (population 24)")
def _nsga2(context: SamplerContext) -> Any:
    import optuna

    return optuna.samplers.NSGAIISampler(seed=context.seed, population_size=NSGA_POPULATION)


@register_sampler("nsga3", "Optuna NSGA-III (population 24)")
def _nsga3(context: SamplerContext) -> Any:
    import optuna

    return optuna.samplers.NSGAIIISampler(seed=context.seed, population_size=NSGA_POPULATION)


@register_sampler("tpe", "Optuna multivariate TPE")
def _tpe(context: SamplerContext) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=context.seed, multivariate=True)


@register_sampler("random", "uniform random (ignores the budget)")
def _random(context: SamplerContext) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=context.seed)


@register_sampler("gp", "Optuna Gaussian-process Bayesian optimisation")
def _gp(context: SamplerContext) -> Any:
    import optuna

    return optuna.samplers.GPSampler(seed=context.seed, warn_independent_sampling=False)


@register_sampler("auto", "OptunaHub AutoSampler (needs the optunahub package and access to github.com)")
def _auto(context: SamplerContext) -> Any:
    try:
        import optunahub
    except ImportError:
        raise HwnasError("sampler 'auto' is not available here: it is OptunaHub's AutoSampler, which needs the "
                         "optunahub package (pip install optunahub) and access to github.com to download it; "
                         "use guided, nsga2, nsga3, tpe, gp or random") from None
    try:
        module = optunahub.load_module("samplers/auto_sampler")
    except Exception as error:  # noqa: BLE001 - network or GitHub errors of any kind
        raise HwnasError(f"sampler 'auto' is not available here: OptunaHub could not download AutoSampler "
                         f"({str(error).splitlines()[0][:160]})") from None
    return module.AutoSampler(seed=context.seed)
