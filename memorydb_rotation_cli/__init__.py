"""`memorydb-rotation`: the operator's command line (status, rotate, repair, doctor).

Never imported by rotation/ (the deployed package): the CLI and its libraries (typer, rich) are
not in the Lambda artifact.
"""
