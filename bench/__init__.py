"""`make bench`: the performance figures of the rotation function, each beside its target.

Benchmarks print figures; they are never tests that assert wall-clock limits (see README.md,
"Performance"). Every timing ratio is taken within one run against a baseline measured in the
same run.
"""
