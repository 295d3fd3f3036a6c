"""Training of allfocus networks: configs, synthetic data, losses and the loop."""
