"""The deploy's building blocks.

``deploy.py`` includes the task files of this folder (``runtime.py``, ``shell.py`` ...)
one after the other for every host. They share three modules that are imported, not
included: ``helpers`` (plain Python: paths, the runtime archive, the scheduled jobs;
the audit and the tests use it too), ``facts`` (what the deploy asks a host) and
``operations`` (the custom operations built on those facts).
"""
