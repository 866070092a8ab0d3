"""Moving runs between stores and tools: ``runlog push`` and ``runlog import mlflow | tensorboard``.

``push`` (``runlog_core.push``: copy runs with their ids, only what the destination lacks) with
``push_plan``, ``push_copy`` and ``push_summary``; the importers ``import_mlflow`` (with
``import_mlflow_files`` and ``import_mlflow_artifacts``) and ``import_tensorboard`` (with
``import_tfevents``), sharing ``import_common``, ``import_write`` and ``import_read`` (the guards
for files someone else wrote). Internal: ``push`` is re-exported by ``runlog_core``.
"""
