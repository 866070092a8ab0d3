"""The ground floor: what every other part of the core shares, importing nothing of runlog but its exceptions.

``config`` (the only reader of ``RUNLOG_*`` variables), ``records`` (RunInfo, SeriesRef, Batch, the
statuses), ``values`` (checking and converting what users pass in), ``filter`` (the search language,
parsed into a tree each store compiles), ``artifact_names`` (which file names are safe), ``redact`` (secrets out of recorded text), ``handle`` (the
protocols by which lower floors name a run) and ``legacy`` (old module paths, for pickles).
Internal: the public names are re-exported by ``runlog_core``, ``runlog_core.store`` and
``runlog_core.integration``.
"""
