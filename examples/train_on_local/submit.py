"""Submit train.py as a run, watch it, and find the best alpha: the train-on-local notebook's flow.

Ported from Azure/MachineLearningNotebooks, how-to-use-azureml/training/train-on-local
(train-on-local.ipynb, Copyright (c) Microsoft, MIT license): the workspace and environment cells
are gone (runs go to ./runlog, or RUNLOG_STORE; the script runs with this Python); the rest is
the notebook's code with `azureml.core` replaced by `runlog_core`.

    python examples/train_on_local/submit.py
"""

import os

import numpy as np

from runlog_core import Experiment, ScriptRunConfig

here = os.path.dirname(os.path.abspath(__file__))

exp = Experiment(name="train-on-local")

src = ScriptRunConfig(source_directory=here, script="train.py")
run = exp.submit(src)
print(run)
run.wait_for_completion(show_output=True)

# get all metrics logged in the run
metrics = run.get_metrics()

best_alpha = metrics['alpha'][np.argmin(metrics['mse'])]

print('When alpha is {1:0.2f}, we have min MSE {0:0.2f}.'.format(
    min(metrics['mse']),
    best_alpha
))

# the models the script saved under ./outputs
print([name for name in run.get_file_names() if name.startswith("outputs/")])
