# Ported from Azure/MachineLearningNotebooks, how-to-use-azureml/training/train-on-local/mylib.py
# (Copyright (c) Microsoft, MIT license). Unchanged apart from this header.

import numpy as np


def get_alphas():
    # list of numbers from 0.0 to 1.0 with a 0.05 interval
    return np.arange(0.0, 1.0, 0.05)
