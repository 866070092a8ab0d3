"""scikit-learn: parameter searches as a parent run with one child run per candidate.

``TrackedSearch(search)`` wraps any ``BaseSearchCV`` (``GridSearchCV``,
``RandomizedSearchCV``, ``HalvingGridSearchCV``, ``HalvingRandomSearchCV``) and logs,
when its ``fit`` returns:

- into the parent run: the search's settings (``search``, ``estimator``, ``estimator.*``,
  ``cv``, ``scoring``, ``refit``, ``n_iter``, the grid...), ``best_params.*``,
  ``best_score``, ``best_index``, ``refit_time``, ``n_candidates``, ``n_splits`` and
  the whole ``cv_results_`` as the table ``cv_results``;
- one child run per candidate (``max_child_runs`` keeps the best ranked), named after
  its params: the params, every number of its ``cv_results_`` row (``mean_test_*``,
  ``std_test_*``, ``rank_test_*``, train scores, fit and score times) and the per-fold
  scores as the series ``test_{scorer}`` / ``train_{scorer}`` with ``step`` = fold index.
  A candidate whose fit failed (``error_score=nan``) keeps its NaN scores and ends Failed.

``log_search(fitted_search, run=None, experiment=None)`` logs a search fitted elsewhere the
same way. Which run is the parent: ``run=``, else the submitted run under ``runlog submit``,
else a run of its own in ``experiment=``, ``RUNLOG_EXPERIMENT`` or ``"sklearn"``, ended with
the fit's outcome. ``autolog()`` reaches this module through the ``runlog`` entry point and
calls :func:`attach_autolog`.

The modules, one concern each: ``_results`` reads a search and its ``cv_results_``;
``_live`` follows candidates live through scikit-learn's callback API (1.9+); ``_search``
holds ``TrackedSearch`` and ``log_search``; ``_autolog`` patches ``fit`` for ``autolog()``.
"""

from __future__ import annotations

try:
    import numpy  # noqa: F401
    import sklearn  # noqa: F401
except ImportError as err:
    raise ImportError(
        "runlog_integrations.sklearn needs scikit-learn: pip install 'runlog[sklearn]'"
    ) from err

from ._autolog import attach_autolog
from ._results import candidate_name, results_table, search_settings
from ._search import DEFAULT_EXPERIMENT, TrackedSearch, log_search

__all__ = [
    "DEFAULT_EXPERIMENT",
    "TrackedSearch",
    "attach_autolog",
    "candidate_name",
    "log_search",
    "results_table",
    "search_settings",
]

# pickled (joblib.dump of a fitted search) under the public path, wherever the defining module moves
TrackedSearch.__module__ = __name__
