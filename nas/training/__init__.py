"""Supernet training: the sandwich rule with in-place distillation, resumable from its checkpoint."""
