"""Time-series forecasting with models trained on a `timeseries` dataset.

    model = brickwork.load("runs/co2_lstm/model.safetensors")
    forecast(model, steps=52)["forecast"]        # the next 52 values, in the data's units
    evaluate_forecast(model)["model"]["rmse"]    # vs result["naive"], result["seasonal_naive"]

See docs/sequence.md.
"""

from brickwork.forecast.evaluation import evaluate_forecast, seasonal_period
from brickwork.forecast.plots import plot_continuation, plot_evaluation
from brickwork.forecast.rollout import forecast, read_history

__all__ = [
    "evaluate_forecast",
    "forecast",
    "plot_continuation",
    "plot_evaluation",
    "read_history",
    "seasonal_period",
]
