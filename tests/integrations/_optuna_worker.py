"""One worker of a study shared by several processes: waits for a line on stdin so all start at once,
then optimises the study (created beforehand by the test) with a tracked objective and the callback.

    python _optuna_worker.py STORAGE STUDY_NAME RUNLOG_STORE N_TRIALS
STORAGE: an RDB URL, or ``journal:PATH`` for a JournalStorage file.
"""

from __future__ import annotations

import sys

import optuna
from _optuna_helpers import objective

from runlog_core import Experiment
from runlog_integrations.optuna import RunlogCallback


def main() -> None:
    storage_arg, study_name, store, n_trials = sys.argv[1:5]
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if storage_arg.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage: object = JournalStorage(JournalFileBackend(storage_arg[len("journal:"):]))
    else:
        storage = storage_arg
    study = optuna.load_study(study_name=study_name, storage=storage)  # type: ignore[arg-type]
    callback = RunlogCallback(experiment=Experiment("shared-study", store=store))
    sys.stdin.readline()
    study.optimize(callback.track_in_runlog()(objective), n_trials=int(n_trials), catch=(ValueError,),
                   callbacks=[callback])


if __name__ == "__main__":
    main()
