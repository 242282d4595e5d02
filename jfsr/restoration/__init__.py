"""Restoring faces in crops, photos and videos with a trained generator.

* :mod:`jfsr.restoration.restorer`: ``Restorer`` (load once; detect, align, restore, paste back);
* :mod:`jfsr.restoration.video`: frames in and out, audio, progress;
* the command, ``python -m jfsr.restore`` / ``jfsr-restore``, is :mod:`jfsr.restore`.

Face detection, landmarks, warps and blending live below, in :mod:`jfsr.faces`.
"""

__all__ = ['FaceResult', 'FrameResult', 'Restorer']


def __getattr__(name: str):
  # Imported on first use, so that the command line answers --help and flag errors without
  # loading JAX.
  if name in __all__:
    from jfsr.restoration import restorer
    return getattr(restorer, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
