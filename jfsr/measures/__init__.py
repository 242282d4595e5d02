"""Measures of the project's speed and quality, each a library with its command:

* :mod:`jfsr.measures.speed`: training, loading and restoring throughput, FLOP/s and memory
  (``python -m jfsr.measures.speed``);
* :mod:`jfsr.measures.in_frames`: restoration in frames, the way users meet it: detection,
  alignment and the gain over bicubic under named conditions;
* :mod:`jfsr.measures.flicker`: how much restored video flickers against bicubic;
* :mod:`jfsr.measures.contact_sheet`: the training degradation drawn as a picture;
* :mod:`jfsr.measures.scenes`: the made scenes the measures restore and score.
"""
