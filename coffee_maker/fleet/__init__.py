"""The fleet: many repositories and workers on Temporal (docs/FLEET.md).

A layer above :mod:`coffee_maker.autonomous` and below the command line. Each
(repository, priority) is one Temporal workflow whose step is one iteration of the
daemon for that priority, run on whichever worker serves the repository. ``temporalio``
is an optional dependency (``pip install "coffee-maker[fleet]"``): only the modules that
talk to Temporal import it, and :func:`coffee_maker.fleet.temporal.require` says what to
install when it is missing.
"""
