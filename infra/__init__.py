"""Infrastructure around the rotation function: the local sandbox and the deployable stacks."""
