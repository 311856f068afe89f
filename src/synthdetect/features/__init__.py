"""What the models see: the spectrogram image, its color and Gaussian-derivative
histograms, and the image caches."""
