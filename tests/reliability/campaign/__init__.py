"""The reliability harness: fault injection, invariant checks, leak scans, load, and the report."""
