"""The fleet: many repositories and workers on Temporal (``orchestrator: temporal``).

Optional: it needs the ``fleet`` extra (temporalio). Nothing is imported here, so the
single-machine daemon never loads it.
"""
