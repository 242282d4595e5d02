"""Pretrained weights: reading, converting and caching them, with no torch or TensorFlow."""
