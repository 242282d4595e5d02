"""A learned aligner for tiny faces: the frame-to-model-input similarity, read off the face.

Restoration warps every face onto the model's input by the similarity that takes its
five landmarks onto the template (:mod:`jfsr.faces.alignment`). On faces of 10-30 px,
compressed or blurred, MTCNN's landmarks stray by degrees and pixels, and restoring from
the true alignment gains 0.2-0.3 dB more than from the detected one (docs/restoration.md).
The aligner looks at the face as the current alignment frames it and says how to move
that alignment to the true one, the way CelebA-HQ aligned the faces the models trained on:

* :mod:`jfsr.aligner.model`: the network (a small linen CNN), the crop it reads and the
  correction it returns, and :func:`~jfsr.aligner.model.align` that applies it to faces;
* :mod:`jfsr.aligner.samples`: its training examples, CelebA-HQ pictures placed in frames
  by known similarities and degraded the photo way (blur, shrink kernel, noise, JPEG), the
  alignment to correct drawn around the true one;
* :mod:`jfsr.aligner.train`: its training, ``python -m jfsr.aligner --config configs/aligner.py``;
* :mod:`jfsr.aligner.shipped`: the aligner that ships in the package.
"""
