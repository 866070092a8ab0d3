"""How runs are shown: the public toolkit for code built on the core (the web UI, ``runlog_ui``).

What the ``runlog`` listings and the web UI share, so that both show the same columns with the
same names and give the same JSON:

- :data:`ATTRIBUTE_COLUMNS`, :func:`parse_columns`, :func:`named_fields`, :func:`choose_columns`:
  the columns of a listing of runs (``metrics.NAME``, ``params.NAME``, ``tags.NAME`` or an
  attribute), as given (``--columns``) or chosen from a filter, sort keys and the runs' metrics;
- :data:`JSON_KEYS`, :func:`json_key`: the one vocabulary of JSON output (``run_id``, ``parent_run_id``,
  ``start_time``, ``end_time``) for the attribute columns a table heads ``id``, ``parent``, ``started``, ``ended``;
- :func:`json_ready`: a value with NaN and infinities as the strings JSON can carry;
- :func:`register_ui` and :func:`find_ui`: the registry of web UI servers by store, which links a
  run shown in a notebook to its page (see :mod:`runlog_core.views.ui_registry`);
- :func:`ui_token` and :func:`ui_db_connections`: the ``RUNLOG_UI_TOKEN`` and ``RUNLOG_UI_DB_CONNECTIONS``
  settings, read as runlog reads every ``RUNLOG_*`` variable.

The other modules here are runlog's own: :mod:`~runlog_core.views.html` (Jupyter's HTML for runs,
experiments and lists of runs) and :mod:`~runlog_core.views.frames` (data frames). Views sit below
``runlog_core.run`` and never import it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.base.config import ui_db_connections, ui_token
    from runlog_core.views.columns import (
        ATTRIBUTE_COLUMNS,
        JSON_KEYS,
        choose_columns,
        json_key,
        json_ready,
        named_fields,
        parse_columns,
    )
    from runlog_core.views.ui_registry import find_ui, register_ui

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "JSON_KEYS",
    "choose_columns",
    "find_ui",
    "json_key",
    "json_ready",
    "named_fields",
    "parse_columns",
    "register_ui",
    "ui_db_connections",
    "ui_token",
]

# loaded on first use: runlog_core.views.html (a Run's Jupyter HTML) is imported by `import runlog_core`
_HOMES = {"ui_token": "runlog_core.base.config", "ui_db_connections": "runlog_core.base.config", "find_ui": "runlog_core.views.ui_registry",
          "register_ui": "runlog_core.views.ui_registry"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        value = getattr(importlib.import_module(_HOMES.get(name, "runlog_core.views.columns")), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runlog_core.views' has no attribute {name!r}")
