"""Training data: sources, the synthetic degradation and the grain pipeline."""
