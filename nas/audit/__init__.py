"""`hwnas audit`: the supernet's inherited accuracies against stand-alone training of the same networks
(which networks: `selection`; the statistics: `fidelity`; the verb and its resumable trainings: `audit`;
the model cards' line: `cards`)."""

from nas.audit.audit import AuditConfig, audit

__all__ = ["AuditConfig", "audit"]
