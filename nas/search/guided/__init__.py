"""The internals of the `guided` sampler (sampler.py): its working state, candidates, surrogates and
acquisition, kept beside it the way Optuna keeps a sampler's internals."""
