"""Faces in images, for evaluation and restoration alike: detection and alignment.

* :mod:`jfsr.faces.haar`: OpenCV's Haar cascade (boxes, square crops, feathered paste);
* :mod:`jfsr.faces.alignment`: least-squares similarity transforms from five
  landmarks (MTCNN's, :mod:`jfsr.mtcnn`) onto a template, and the warps.

The Haar functions are re-exported here (``faces.detect``, ``faces.crop``, ...).
"""

from jfsr.faces.haar import CASCADE, Face, crop, detect, feather_mask, paste

__all__ = ['CASCADE', 'Face', 'crop', 'detect', 'feather_mask', 'paste']
