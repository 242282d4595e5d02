"""A local web page to try a model on: ``python -m jfsr.demo`` (see :mod:`jfsr.demo.server`)."""
