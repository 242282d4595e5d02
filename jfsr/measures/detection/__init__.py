r"""Face detection in photos as they come: how many faces it finds, how many it invents,
how well it places their landmarks, and how long it takes, without restoring anything.

    python -m jfsr.measures.detection --root CELEBAMASK_HQ --faces 100 \
        --kinds portrait,group,border --conditions png,jpeg75,blur2x,jpeg50 \
        --detectors mtcnn,mtcnn-upright,haar [--json detection.json]

The photos are those of :mod:`jfsr.measures.in_frames` (the same photos for one seed,
``--faces`` held-out faces placed at 12-24 px by default, every kind and condition of
:mod:`jfsr.measures.scenes`). Each detector of :data:`DETECTORS` looks for faces as
``jfsr.restore`` would (the smallest face it is asked for, ``min_face``, is restore's
default for the model unless given). A face counts as found when a detection's landmarks
are centred within a quarter of its side of the true ones (:func:`scenes.match`); a
detection that matches no face is a false one. The time is each photo's detection, on a
second pass over the photos so that compiling for a new frame size is not counted.
"""

from __future__ import annotations

import time

import numpy as np
from absl import logging

from jfsr.measures.scenes import (CONDITIONS, ROTATION_BUCKETS, face_side, false_detections,
                                  landmark_error, make_photos, match, true_face)

# The detectors compared by name: restore's default (MTCNN with its second looks at
# rejected boxes turned ±25°, its landmarks corrected by the aligner, which also gives the
# boxes O-Net turned down their second opinion), the same without the aligner (and so
# without that opinion), MTCNN without the second looks, and the Haar cascade (boxes only;
# landmarks from the template). 'aligner': whether the measure's aligner corrects the landmarks.
DETECTORS = {'mtcnn': {'kind': 'mtcnn', 'aligner': True},
             'mtcnn-unaligned': {'kind': 'mtcnn', 'aligner': False},
             'mtcnn-upright': {'kind': 'mtcnn', 'turns': (), 'aligner': True},
             'haar': {'kind': 'haar', 'aligner': True}}


def timed_detection(detector, frames: list[np.ndarray]) -> tuple[list[list], np.ndarray]:
  """Each frame's faces and the seconds its detection took (a first pass compiles for
  every frame size and is not timed)."""
  detector.detect(frames)
  found, seconds = [], []
  for frame in frames:
    start = time.perf_counter()
    found += detector.detect([frame])
    seconds.append(time.perf_counter() - start)
  return found, np.asarray(seconds)


def measure_detection(faces: list[np.ndarray], lr_size: int, factor: int,
                      detectors: dict, kinds: tuple[str, ...], conditions: tuple[str, ...],
                      edges: tuple[int, ...], seed: int = 0) -> dict:
  """The measure of the module docstring: ``faces`` (ground truth, ``lr_size * factor``
  square) placed into photos of each of ``kinds`` under each of ``conditions`` (names),
  their sides drawn between ``edges[0]`` and ``edges[-1]`` pixels; each of ``detectors``
  (name -> :class:`jfsr.faces.detection.Detector`) scored by rotation and by size."""
  hr = lr_size * factor
  results = {}
  for kind in kinds:
    for condition in conditions:
      rng, noise_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
      photos = make_photos(kind, faces, lr_size, factor, rng, CONDITIONS[condition],
                           noise_rng, (edges[0], edges[-1]))
      logging.info('%d %s photos, condition %s', len(photos), kind, condition)
      results[f'{kind} {condition}'] = {
          name: scored(photos, *timed_detection(detector, [p.frame for p in photos]), hr, edges)
          for name, detector in detectors.items()}
  return results


def scored(photos: list, found: list[list], seconds: np.ndarray, hr: int,
           edges: tuple[int, ...]) -> dict:
  """One detector on one set of photos: found rate and landmark errors by rotation and
  size, false detections per photo, seconds per photo and per megapixel."""
  scenes = [(k, scene) for k, photo in enumerate(photos) for scene in photo.scenes]
  matches = [match(found[k], scene, hr) for k, scene in scenes]
  sides = np.array([face_side(scene, hr) for _, scene in scenes])
  rotations = np.abs([scene.rotation for _, scene in scenes])
  hits = np.array([m is not None for m in matches])
  errors = [landmark_error(m.landmarks, true_face(scene, hr).landmarks, face_side(scene, hr))
            if m is not None else None for m, (_, scene) in zip(matches, scenes)]
  false = false_detections(found, matches, np.array([k for k, _ in scenes]))
  buckets = {f'{low}-{high} deg': (rotations >= low) & (rotations < high)
             for low, high in ROTATION_BUCKETS}
  buckets |= {f'{low}-{high} px': (sides >= low) & (sides < high)
              for low, high in zip(edges[:-1], edges[1:])}
  buckets['all'] = np.ones(len(scenes), bool)

  def bucket(chosen: np.ndarray) -> dict:
    measured = [e for e, c in zip(errors, chosen) if c and e is not None]
    rms = {f'{k} error': float(np.sqrt(np.mean([e[k] ** 2 for e in measured]))) if measured
           else float('nan') for k in ('roll', 'scale', 'shift', 'point')}
    return {'found': float(hits[chosen].mean()) if chosen.any() else float('nan'),
            'faces': int(chosen.sum())} | rms

  megapixels = np.array([p.frame.shape[0] * p.frame.shape[1] / 1e6 for p in photos])
  return {'buckets': {label: bucket(chosen) for label, chosen in buckets.items()},
          'false_per_photo': float(np.mean(false)),
          'seconds_per_photo': float(seconds.mean()),
          'seconds_per_megapixel': float(seconds.sum() / megapixels.sum()),
          'photo_megapixels': float(megapixels.mean())}


def markdown(result: dict) -> str:
  """Found rates by rotation and size, false detections and speed, one row per photos,
  condition and detector."""
  first = next(iter(next(iter(result['measured'].values())).values()))
  labels = list(first['buckets'])
  lines = [f"{result['faces']} held-out faces, smallest face looked for {result['min_face']} px "
           f"(detector box), {result['model']}",
           '', '| photos, condition | detector | found: ' + ' / '.join(labels) +
           ' | false per photo | s per photo (its pixels) | landmark RMS: roll ° / scale % / '
           'shift x side / points x side |',
           '|---|---|---|---|---|---|']
  for name, by_detector in result['measured'].items():
    for detector, m in by_detector.items():
      found = ' / '.join(f"{m['buckets'][label]['found']:.2f}" for label in labels)
      everything = m['buckets']['all']
      lines.append(f"| {name} | {detector} | {found} | {m['false_per_photo']:.2f} | "
                   f"{m['seconds_per_photo']:.2f} ({m['photo_megapixels'] * 1e3:.0f} k) | "
                   f"{everything['roll error']:.1f} / {100 * everything['scale error']:.1f} / "
                   f"{everything['shift error']:.3f} / {everything['point error']:.3f} |")
  return '\n'.join(lines)
