"""jfsr: joint face super-resolution and deblurring in JAX/Flax."""
