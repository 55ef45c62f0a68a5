"""Adapters: the only modules that touch boto3 and redis."""
