"""Faces in images, for evaluation (Table 2) and restoration alike; nothing here imports either.

* :mod:`jfsr.faces.haar`: OpenCV's Haar cascade (boxes, square crops);
* :mod:`jfsr.faces.mtcnn`: the MTCNN cascade (boxes and five landmarks), batched over frames;
* :mod:`jfsr.faces.refine`: MTCNN's landmarks of tiny faces refined on the upright face;
* :mod:`jfsr.faces.detection`: ``Detector``, faces with landmarks from either of them;
* :mod:`jfsr.faces.alignment`: similarity transforms onto measured templates, and warps;
* :mod:`jfsr.faces.blend`: a restored face warped back under a soft elliptical mask;
* :mod:`jfsr.faces.tracking`: landmarks smoothed along a video;
* ``tools/measure_template.py``: the command that measured the templates.

The Haar functions are re-exported here (``faces.detect``, ``faces.crop``).
"""

from jfsr.faces.haar import CASCADE, Face, crop, detect

__all__ = ['CASCADE', 'Face', 'crop', 'detect']
