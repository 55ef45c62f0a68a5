"""Secrets Manager rotation of Amazon MemoryDB user passwords (two-password slot)."""
