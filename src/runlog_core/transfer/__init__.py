"""Moving runs between stores and tools: ``runlog push`` and ``runlog import mlflow | tensorboard``.

``push`` (``runlog_core.push``: copy runs with their ids, only what the destination lacks) with
``push_plan``, ``push_copy`` and ``push_summary``; the importers ``import_mlflow`` and
``import_tensorboard``, sharing ``import_common`` and ``import_write``. Internal: ``push`` is
re-exported by ``runlog_core``.
"""
