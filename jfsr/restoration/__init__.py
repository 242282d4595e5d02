"""Restoring faces in crops, photos and videos with a trained generator.

* :mod:`jfsr.restoration.restorer`: ``Restorer`` (load once; detect, align, restore, paste back);
* :mod:`jfsr.restoration.video`: frames in and out, audio, progress;
* :mod:`jfsr.restoration.cli`: ``python -m jfsr.restore`` / ``jfsr-restore``.

Face detection, landmarks, warps and blending live below, in :mod:`jfsr.faces`.
"""

from jfsr.restoration.restorer import FaceResult, FrameResult, Restorer

__all__ = ['FaceResult', 'FrameResult', 'Restorer']
