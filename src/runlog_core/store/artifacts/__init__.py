"""Where a run's files live: the local folder store (``local``) and S3 (``s3`` and its ``s3_*`` parts).

``names`` decides which artifact names are safe (they never leave the run's folder); ``safe_folder``
reads a folder to upload without following links swapped in after the check; ``roots`` picks the
artifact store of a metadata store from ``RUNLOG_ARTIFACTS``. The contract they implement,
``ArtifactStore``, is in :mod:`runlog_core.store`.
"""
