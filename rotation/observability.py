"""One place for the Powertools objects. Nothing here may ever receive a password.

The Tracer is not built here: constructing it imports the X-Ray SDK, so it exists only when
TRACING_ENABLED is set (see rotation.composition).
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics

SERVICE = "memorydb-rotation"
NAMESPACE = "MemoryDBRotation"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# botocore logs every request's parameters (a SecretString, UpdateUser's Passwords) at DEBUG.
# Whatever level an operator sets for debugging, those loggers stop at INFO.
for _name in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_name).setLevel(logging.INFO)
