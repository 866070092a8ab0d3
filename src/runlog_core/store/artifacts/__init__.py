"""Where a run's files live: the local folder store (``local``) and S3 (``s3`` and its ``s3_*`` parts).

Which artifact names are safe is :mod:`runlog_core.base.artifact_names`'s to say; ``safe_folder``
reads a folder to upload without following links swapped in after the check; ``roots`` picks the
artifact store of a metadata store from ``RUNLOG_ARTIFACTS``. The contract they implement,
``ArtifactStore``, is in :mod:`runlog_core.store`.
"""
