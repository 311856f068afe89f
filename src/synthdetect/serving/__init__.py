"""Using a trained model: the bundle (weights, preprocessing, calibration) and `predict`."""
