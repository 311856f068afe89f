"""What the models see: the spectrogram image, its colour and Gaussian-derivative
histograms, and the image caches."""
