"""Script submission: ``Experiment.submit(ScriptRunConfig(...))``, ``runlog submit`` and sweeps.

``config`` (ScriptRunConfig, checked at construction), ``environment`` (what the script runs with,
secrets hidden), ``process`` (the process group, its output, stopping it), ``script_run`` (the submitted
run's handle and the launch) and ``sweep`` (a parent run and one child per combination). ``api`` is the
facade ``Experiment.submit`` calls. Internal: ``ScriptRunConfig`` is re-exported by ``runlog_core``.
"""
