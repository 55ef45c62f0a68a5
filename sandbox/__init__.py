"""A local stand-in for AWS that is as strict as AWS where the rotation depends on it.

moto provides Secrets Manager and the MemoryDB control plane; the patches here make them keep
MemoryDB passwords, enforce MemoryDB's rules and propagation, and refuse what Secrets Manager
refuses. A real redis-server on loopback is the data plane. See docs/domain.md.
"""

from sandbox.driver import RotationDriver, RotationOutcome
from sandbox.sandbox import Sandbox

__all__ = ["RotationDriver", "RotationOutcome", "Sandbox"]
