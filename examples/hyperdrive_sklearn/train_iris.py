"""Azure's "train-hyperparameter-tune-deploy-with-sklearn" training script, on runlog.

The only change from Azure's ``train_iris.py`` is the import of ``Run`` (and ``np.str``/``np.float``,
gone from NumPy, written as ``str``/``float``). HyperDrive passes ``--kernel`` and ``--penalty``.
"""

from __future__ import annotations

import argparse
import os

import joblib
from sklearn import datasets
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from runlog_core import Run  # Azure: from azureml.core.run import Run

run = Run.get_context()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernel", type=str, default="linear", help="Kernel type to be used in the algorithm")
    parser.add_argument("--penalty", type=float, default=1.0, help="Penalty parameter of the error term")
    args = parser.parse_args()
    run.log("Kernel type", str(args.kernel))
    run.log("Penalty", float(args.penalty))

    iris = datasets.load_iris()
    X, y = iris.data, iris.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

    svm_model_linear = SVC(kernel=args.kernel, C=args.penalty).fit(X_train, y_train)
    svm_predictions = svm_model_linear.predict(X_test)

    accuracy = svm_model_linear.score(X_test, y_test)
    print(f"Accuracy of SVM classifier on test set: {accuracy:.2f}")
    run.log("Accuracy", float(accuracy))
    print(confusion_matrix(y_test, svm_predictions))

    os.makedirs("outputs", exist_ok=True)
    joblib.dump(svm_model_linear, "outputs/model.joblib")  # uploaded with the run when it ends


if __name__ == "__main__":
    main()
