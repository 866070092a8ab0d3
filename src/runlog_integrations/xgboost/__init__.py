"""XGBoost: a ``TrainingCallback`` that records a boosting run into runlog (docs/xgboost.md).

    from runlog_integrations.xgboost import RunlogCallback
    xgb.train(params, dtrain, evals=[(dvalid, "valid")], callbacks=[RunlogCallback(experiment="higgs")])
"""

from runlog_integrations.xgboost.callback import RunlogCallback, attach_autolog, booster_params

__all__ = ["RunlogCallback", "attach_autolog", "booster_params"]

RunlogCallback.__module__ = __name__  # pickled under the public path, wherever the defining module moves
