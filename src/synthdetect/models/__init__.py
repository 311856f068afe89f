"""Table 1's models: the registry, the networks, training and the Random Forest."""
