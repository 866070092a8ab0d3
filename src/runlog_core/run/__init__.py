"""The run API: ``Experiment`` and ``Run`` (Azure ML v1's), and what a live run does in this process.

``run`` assembles :class:`Run` from one mixin per concern (``log``, ``files``, ``end``, ``read``; shared
state in ``state``); ``experiment`` starts runs; ``context`` is ``Run.get_context()``; ``lifecycle``
ends the runs this process owns at exit and on SIGTERM; ``query`` is ``search_runs``; ``lookup`` finds a
run by id, prefix or name; ``follow`` follows a run's output; ``capture``, ``system``, ``snapshot`` and
``images`` serve ``capture_output``, ``monitor_system``, snapshots and ``log_image``. Internal: the public
names are re-exported by ``runlog_core``.
"""
