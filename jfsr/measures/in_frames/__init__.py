r"""Restoration in frames, the way users meet it: detection, alignment and gain over bicubic.

    python -m jfsr.measures.in_frames --model NAME --root CELEBAMASK_HQ \
        [--faces 100] [--json results.json]
    python -m jfsr.measures.in_frames --checkpoint WORKDIR/checkpoints/STEP \
        --folder FACES --first 0 --faces 100     # held-out faces of a plain folder
    python -m jfsr.measures.in_frames --root CELEBAMASK_HQ --faces 200 \
        --face_sizes 12,16,20,24,32,40,48        # no model named: the shipped models by size

Faces nobody trained on (the model's test split of ``--root``, or images ``--first`` on
of ``--folder``) are put into larger frames over textured backgrounds by known random
similarity transforms (rotation up to ±30°, in three buckets of 10°; a face side of
0.75 to 1.5 times the model's input, i.e. 12-24 px for a 16-px model, or the range of
``--face_sizes``; shifts), the whole
frame is blurred by a random linear motion and shrunk by the model's factor (the
training's antialiased bicubic) and rounded to 8 bits. This is not the training's frame
mode (:mod:`jfsr.data.frames`: Gong's flows, mirrored surroundings, sampled landmark
errors): the scenes make their own choices, and their landmarks come from the detector.
``--kinds`` chooses the photos (:data:`jfsr.measures.scenes.KINDS`): ``portrait``, the
above, one whole CelebA-HQ picture (face, hair, shoulders, its own background) per frame;
``group``, twelve of them in one photo, each turned, scaled and shifted on its own, under
one camera motion; ``border``, one picture cut by the frame's edge (its landmarks inside).
Every face is scored alone, and false detections are counted per face.
With no model named, the faces are restored as ``jfsr.restore`` restores them by default:
by the shipped models together, each face by the one whose input its size suits (the
ground-truth faces at the largest model's output size). Each frame is then restored
(enlarged by the model's factor) these ways:

* ``bicubic``: the frame enlarged, nothing restored;
* ``bicubic, back-projected``: the whole enlarged frame made to agree with the frame
  (:mod:`jfsr.restoration.back_projection`, no generator): how much of the restored
  paths' gain back-projection alone would give;
* ``box (Haar)``: the Haar cascade's box, cut as a square (no roll), the path
  ``jfsr.restore`` took before landmarks;
* ``box (MTCNN)``: MTCNN's box, with the landmarks where they sit on average inside
  it (no roll, the box's scale): the same faces as the next row, cut without
  alignment, so that the two rows differ in alignment alone;
* ``aligned (MTCNN), as generated``: five MTCNN landmarks, similarity warp, soft paste,
  the generator's output as it is (``jfsr.restore --fidelity 0``);
* ``aligned (MTCNN), fidelity 0.5``: halfway between that and the next row;
* ``aligned (MTCNN)``: the same, restored under ``--alignments`` nudged alignments and
  flip-averaged (``--flip_average``), and back-projected (``--back_projection`` iterations):
  the default path of ``jfsr.restore`` (``--fidelity``, 1 by default);
* ``aligned (true landmarks)``: the same with the landmarks the transform put there,
  the ceiling that a perfect detector would reach.

Every restored frame is mapped back through the known transform onto the ground
truth face and scored on its middle (the central 3/4): PSNR and SSIM (the
standard protocol), LPIPS (:mod:`jfsr.metrics.lpips`; lower is better) and FaceNet's
embedding distance to the ground truth (the evaluation's MTCNN-aligned FaceNet; lower is
better; faces FaceNet cannot find are counted apart). A face a detector missed is scored as the frame enlarged,
since that is what the user gets; a second table scores the paths on the faces both
detectors found, so that they are compared on the same faces. Detection rates of
MTCNN and Haar are given by face size (its aligned crop's side in frame pixels) and
by rotation, with the false detections per frame (detections that are not the face),
and the detector's landmark errors against the truth (roll, scale, shift and per-point
residual, by face size: what frame-mode training's ``data.frames.*_error`` model).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from absl import logging

from jfsr.measures.scenes import (CONDITIONS, ROTATION_BUCKETS, SIZE_BUCKETS, Condition,
                                  back_onto_truth, face_side, false_detections, held_out_faces,
                                  landmark_error, make_photos, match, true_face)
from jfsr.restoration import back_projection
from jfsr.restoration.jpeg_grid import encoder_grid
from jfsr.restoration import options as restore_options

PATHS = ('bicubic', 'bicubic, back-projected', 'box (Haar)', 'box (MTCNN)',
         'aligned (MTCNN), as generated', 'aligned (MTCNN), fidelity 0.5', 'aligned (MTCNN)',
         'aligned (true landmarks)')


def back_projected(enlarged: np.ndarray, frame: np.ndarray, scale: int, iterations: int
                   ) -> np.ndarray:
  """The whole of ``enlarged`` (``frame`` enlarged ``scale`` times) back-projected onto
  ``frame``."""
  from jfsr.faces.blend import Footprint
  out = enlarged.copy()
  height, width = out.shape[:2]
  everywhere = Footprint(0, 0, width, height, np.eye(2, 3), np.ones((height, width), np.float32))
  back_projection.back_project(out, frame, scale, everywhere, iterations)
  return out


def box_only(face):
  """An MTCNN face with its own landmarks replaced by where they sit on average in its box
  (:data:`jfsr.faces.alignment.FACENET_TEMPLATE`, measured in MTCNN's boxes)."""
  from jfsr.faces import alignment
  x1, y1, x2, y2 = face.box
  average = alignment.FACENET_TEMPLATE / alignment.FACENET_SIZE * [x2 - x1, y2 - y1] + [x1, y1]
  return dataclasses.replace(face, landmarks=average)


def measure_photos(model: str | None, root: str | None, count: int, seed: int = 0,
        checkpoint: str | None = None, folder: str | None = None, first: int = 0,
        options: restore_options.RestoreOptions | None = None,
        conditions: tuple[str, ...] = ('png',), face_sizes: tuple[int, ...] = (),
        kinds: tuple[str, ...] = ('portrait',)) -> dict:
  """The measure of the module docstring for each of ``kinds`` of photo (names of
  :data:`jfsr.measures.scenes.KINDS`) under each of ``conditions`` (names of
  :data:`CONDITIONS`: the same photos, degraded each way), keyed ``'KIND CONDITION'``; ``options`` set the restored
  paths, ``jfsr.restore``'s defaults by default; ``face_sizes``: the edges of the size
  buckets in pixels (default: :data:`SIZE_BUCKETS` x the model's input side). With neither
  ``model`` nor ``checkpoint``, the shipped models restore together, as ``jfsr.restore``
  does by default."""
  from jfsr.faces.detection import Detector
  from jfsr.restoration.restorer import Restorer

  restorer = Restorer.load(model, checkpoint, options=options)
  largest = max(restorer.generators, key=lambda g: g.lr_size)
  if len({g.factor for g in restorer.generators}) > 1:
    raise ValueError('the models restore by different factors; name one with --model')
  config = largest.config.copy_and_resolve_references()  # its faces' size; --root is set on it
  lr = min(g.lr_size for g in restorer.generators)
  edges = tuple(face_sizes) or tuple(edge * config.data.lr_size for edge in SIZE_BUCKETS)
  min_face = max(6, min(lr, edges[0]) // 2)
  detectors = {'haar': Detector('haar', min_face),
               'mtcnn': Detector('mtcnn', min_face, turns=restorer.options.detector_turns,
                                 aligner=restorer.options.detector_aligner())}
  restorers = {name: restorer.with_detector(d) for name, d in detectors.items()}
  restorers['as generated'] = restorers['mtcnn'].with_options(fidelity=0.0)
  restorers['halfway'] = restorers['mtcnn'].with_options(fidelity=0.5)
  source = held_out_faces(config, root, folder, first, count)
  faces = [source[i]['hr'] for i in range(min(count, len(source)))]
  scorer = Scorer(np.stack(faces), config.data.hr_size)
  results = {}
  for kind in kinds:
    for name in conditions:
      logging.info('%s photos, condition %s: %s', kind, name, CONDITIONS[name])
      results[f'{kind} {name}'] = measure(faces, config, detectors, restorers, scorer,
                                          CONDITIONS[name], seed, edges, kind)
  return {'model': model or str(checkpoint or ' + '.join(restorer.model_names())),
          'models': [{'name': g.name, 'step': g.step, 'lr_size': g.lr_size,
                      'hr_size': g.hr_size} for g in restorer.generators],
          'faces': len(faces), 'restorer_options': settings_of(restorers['mtcnn']),
          'conditions': results}


class Scorer:
  """PSNR, SSIM (the standard protocol), LPIPS and FaceNet distance of restored faces to
  the ground-truth ones, on the face's middle (the central 3/4)."""

  def __init__(self, truths: np.ndarray, hr: int):
    from jfsr.metrics import identity
    from jfsr.metrics.lpips import lpips_distance
    from jfsr.pretrained import facenet_weights
    self.lpips = lpips_distance()
    network, facenet_variables = facenet_weights.load_facenet()
    self.embed = identity.jitted_embed(network, facenet_variables)
    self.finder = identity.mtcnn_face_finder()
    self.truths, self.border = truths, hr // 8
    crops, self.truth_found = identity.face_crops(truths, self.finder)
    self.truth_embedding = np.asarray(self.embed(crops))

  def __call__(self, mapped: np.ndarray) -> dict[str, np.ndarray]:
    from jfsr.metrics import fidelity, identity
    hr = self.truths.shape[1]
    middle = (slice(None), slice(self.border, hr - self.border),
              slice(self.border, hr - self.border))
    metrics = fidelity.standard_metrics(self.truths[middle], mapped[middle])
    crops, found_here = identity.face_crops(mapped, self.finder)
    distance = np.linalg.norm(np.asarray(self.embed(crops)) - self.truth_embedding, axis=-1)
    usable = found_here & self.truth_found
    return {'psnr': np.asarray(metrics['psnr']), 'ssim': np.asarray(metrics['ssim']),
            'lpips': self.lpips(self.truths[middle], mapped[middle]),
            'id_distance': np.where(usable, distance, np.nan)}


def measure(faces: list[np.ndarray], config, detectors: dict, restorers: dict, scorer: Scorer,
            condition: Condition, seed: int, edges: tuple[float, ...],
            kind: str = 'portrait') -> dict:
  """One kind of photo under one condition: the photos (the same ones for every condition
  with one ``seed``), detected, restored each way of :data:`PATHS`, each face scored by
  rotation and by size (buckets between ``edges``, pixels)."""
  from jfsr.restoration.restorer import enlarge
  lr, hr = config.data.lr_size, config.data.hr_size
  factor = hr // lr
  rng, noise_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
  photos = make_photos(kind, faces, lr, factor, rng, condition, noise_rng, (edges[0], edges[-1]))
  scenes = [scene for photo in photos for scene in photo.scenes]
  photo_of = np.array([i for i, photo in enumerate(photos) for _ in photo.scenes])
  sides = np.array([face_side(s, hr) for s in scenes])
  logging.info('%d %s photos, %d faces of %d-%d px', len(photos), kind, len(scenes),
               sides.min(), sides.max())
  size_buckets = {f'{low:g}-{high:g} px': (sides >= low - 1e-9) & (sides < high - 1e-9)
                  for low, high in zip(edges[:-1], edges[1:])}
  frames = [photo.frame for photo in photos]
  found = {name: d.detect(frames) for name, d in detectors.items()}
  iterations = restorers['mtcnn'].iterations()
  jpeg_grids = ([encoder_grid(condition.jpeg_quality)] * len(frames)
                if condition.jpeg_quality else None)
  restored = lambda restorer, found_faces: [r.image for r in restorer.restore_frames(
      frames, found_faces, upscale=factor, force=True, jpeg_grids=jpeg_grids)]
  outputs = {
      'bicubic': [enlarge(f, factor) for f in frames],
      'bicubic, back-projected': [back_projected(enlarge(f, factor), f, factor, iterations)
                                  for f in frames],
      'box (Haar)': restored(restorers['haar'], found['haar']),
      'box (MTCNN)': restored(restorers['mtcnn'],
                              [[box_only(f) for f in faces] for faces in found['mtcnn']]),
      'aligned (MTCNN), as generated': restored(restorers['as generated'], found['mtcnn']),
      'aligned (MTCNN), fidelity 0.5': restored(restorers['halfway'], found['mtcnn']),
      'aligned (MTCNN)': restored(restorers['mtcnn'], found['mtcnn']),
      'aligned (true landmarks)': restored(restorers['mtcnn'],
                                           [[true_face(s, hr) for s in p.scenes] for p in photos]),
  }
  per_face = {path: scorer(np.stack([back_onto_truth(images[photo_of[k]], s, factor)
                                     for k, s in enumerate(scenes)]))
              for path, images in outputs.items()}
  rotations = np.abs([s.rotation for s in scenes])
  matches = {name: [match(found_in[photo_of[k]], s, hr) for k, s in enumerate(scenes)]
             for name, found_in in found.items()}
  hits = {name: np.array([m is not None for m in matched]) for name, matched in matches.items()}
  false_detections = {name: false_per_face(found_in, matches[name], photo_of)
                      for name, found_in in found.items()}

  def scores(groups: dict[str, np.ndarray]) -> dict:
    return {label: {path: {k: float(np.nanmean(v[chosen])) for k, v in values.items()}
                    | {'faces': int(chosen.sum())} for path, values in per_face.items()}
            for label, chosen in groups.items()}

  def by_rotation(among: np.ndarray) -> dict:
    return scores({f'{low}-{high} deg': (rotations >= low) & (rotations < high) & among
                   for low, high in ROTATION_BUCKETS} | {'all': among})

  def rates(chosen: np.ndarray) -> dict:
    return ({name: float(h[chosen].mean()) for name, h in hits.items()}
            | {f'{name} false/face': float(false_detections[name][chosen].mean())
               for name in hits} | {'faces': int(chosen.sum())})
  detection = {'by size (face / model input)': {}, 'by rotation': {}}
  landmarks = {}
  errors = [landmark_error(m.landmarks, true_face(s, hr).landmarks, face_side(s, hr))
            if m is not None else None for m, s in zip(matches['mtcnn'], scenes)]
  for label, chosen in size_buckets.items():
    detection['by size (face / model input)'][label] = rates(chosen)
    measured = [e for e, c in zip(errors, chosen) if c and e is not None]
    landmarks[label] = {k: float(np.sqrt(np.mean([e[k] ** 2 for e in measured])))
                        for k in ('roll', 'scale', 'shift', 'point')} | {'faces': len(measured)}
  for low, high in ROTATION_BUCKETS:
    chosen = (rotations >= low) & (rotations < high)
    detection['by rotation'][f'{low}-{high} deg'] = rates(chosen)
  worst = np.argsort(per_face['aligned (MTCNN)']['psnr'] - per_face['bicubic']['psnr'])[:5]
  return {'kind': kind, 'condition': dataclasses.asdict(condition), 'photos': len(photos),
          'identity_unusable': {p: int(np.isnan(v['id_distance']).sum())
                                for p, v in per_face.items()},
          'scores': by_rotation(np.ones(len(scenes), bool)),
          # The faces both detectors found: the paths compared on the same faces, apart
          # from which faces each detector misses (a miss is left bicubic).
          'scores_found_by_both': by_rotation(hits['haar'] & hits['mtcnn']),
          'scores_by_size': scores(size_buckets),
          'detection': detection,
          # Root-mean-square errors of MTCNN's (refined) landmarks on the faces it found.
          'landmark_errors_mtcnn': landmarks,
          # The five faces the default path did worst on against bicubic (PSNR dB).
          'worst_faces': [{'face': int(k), 'photo': int(photo_of[k]),
                           'side_px': float(sides[k]), 'rotation': float(rotations[k]),
                           'found': bool(hits['mtcnn'][k]),
                           'gain_db': float(per_face['aligned (MTCNN)']['psnr'][k]
                                            - per_face['bicubic']['psnr'][k])} for k in worst]}


def false_per_face(found: list[list], matched: list, photo_of: np.ndarray) -> np.ndarray:
  """Each face's share of its photo's false detections (:func:`scenes.false_detections`
  over its faces): their mean is false detections per face, which for one face per photo
  is per frame."""
  faces = np.bincount(photo_of, minlength=len(found))
  return (false_detections(found, matched, photo_of) / np.maximum(faces, 1))[photo_of]


def markdown(result: dict) -> str:
  """A summary of every condition's gain and detection, then each condition's tables."""
  models = ', '.join(f"{m['name'] or result['model']} (step {m['step']}, {m['lr_size']}² -> "
                     f"{m['hr_size']}²)" for m in result['models'])
  lines = [f"{result['faces']} held-out faces, {models}, "
           f"{settings_in_words(result['restorer_options'])}"]
  lines += ['', '| photos, condition | rotation | MTCNN found | bicubic PSNR / SSIM / LPIPS / '
            'FaceNet | jfsr.restore - bicubic: PSNR / SSIM / LPIPS / FaceNet |',
            '|---|---|---|---|---|']
  for name, measured in result['conditions'].items():
    found = measured['detection']['by rotation']
    for bucket, by_path in measured['scores'].items():
      base, ours = by_path['bicubic'], by_path['aligned (MTCNN)']
      rate = found[bucket]['mtcnn'] if bucket in found else np.mean(
          [r['mtcnn'] for r in found.values()])
      lines.append(f"| {name} | {bucket} | {rate:.2f} | {base['psnr']:.2f} / {base['ssim']:.3f} / "
                   f"{base['lpips']:.3f} / {base['id_distance']:.3f} | "
                   f"{ours['psnr'] - base['psnr']:+.2f} dB / {ours['ssim'] - base['ssim']:+.3f} / "
                   f"{ours['lpips'] - base['lpips']:+.3f} / "
                   f"{ours['id_distance'] - base['id_distance']:+.3f} |")
  for name, measured in result['conditions'].items():
    lines += ['', f'### {name}: {measured.get("photos", "")} photos, '
              f'{condition_in_words(measured["condition"])}']
    lines += condition_tables(measured)
  return '\n'.join(lines)


def condition_in_words(condition: dict) -> str:
  """A condition in words."""
  parts = [f"blur x{condition['blur_scale']:g}", f"{condition['kernel']} shrink"]
  parts += [f"noise {condition['noise_sigma']:g}"] if condition['noise_sigma'] else []
  parts += [f"JPEG {condition['jpeg_quality']}" if condition['jpeg_quality'] else 'PNG']
  return ', '.join(parts)


def condition_tables(result: dict) -> list[str]:
  """One condition's scores by rotation and size, detection rates and landmark errors."""
  lines = ['PSNR dB / SSIM / LPIPS / FaceNet distance (the last two: lower is better)']
  tables = (('rotation (all faces)', 'scores'),
            ('rotation (faces both detectors found)', 'scores_found_by_both'),
            ('face size (all faces)', 'scores_by_size'))
  for title, key in tables:
    lines += ['', f'| {title} | faces | ' + ' | '.join(PATHS) + ' | aligned (MTCNN) - bicubic |',
              '|---|---|' + '---|' * (len(PATHS) + 1)]
    for bucket, by_path in result[key].items():
      cells = [f"{by_path[p]['psnr']:.2f} / {by_path[p]['ssim']:.3f} / "
               f"{by_path[p]['lpips']:.3f} / {by_path[p]['id_distance']:.3f}" for p in PATHS]
      gain = {k: by_path['aligned (MTCNN)'][k] - by_path['bicubic'][k] for k in ('psnr', 'ssim')}
      cells.append(f"{gain['psnr']:+.2f} dB / {gain['ssim']:+.3f}")
      lines.append(f"| {bucket} | {by_path[PATHS[0]]['faces']} | " + ' | '.join(cells) + ' |')
  lines += ['', '| detection rate (false detections per face) | MTCNN | Haar | faces |',
            '|---|---|---|---|']
  for kind, buckets in result['detection'].items():
    for bucket, rates in buckets.items():
      lines.append(f"| {kind}: {bucket} | {rates['mtcnn']:.2f} ({rates['mtcnn false/face']:.2f}) "
                   f"| {rates['haar']:.2f} ({rates['haar false/face']:.2f}) | {rates['faces']} |")
  if 'worst_faces' in result:
    lines += ['', '| worst faces (photo, face) | side (px) | rotation | found | restored - bicubic |',
              '|---|---|---|---|---|']
    lines += [f"| {w['photo']}, {w['face']} | {w['side_px']:.1f} | {w['rotation']:.0f}° | "
              f"{'yes' if w['found'] else 'no'} | {w['gain_db']:+.2f} dB |"
              for w in result['worst_faces']]
  lines += ['', '| MTCNN landmark error (RMS) | roll (deg) | scale (log) | shift (x side) | '
            'point (x side) | faces |', '|---|---|---|---|---|---|']
  for bucket, e in result['landmark_errors_mtcnn'].items():
    lines.append(f"| {bucket} | {e['roll']:.2f} | {e['scale']:.3f} | {e['shift']:.3f} | "
                 f"{e['point']:.3f} | {e['faces']} |")
  return lines


SETTINGS = ('alignments', 'flip_average', 'back_projection_iterations',
            'video_back_projection_iterations', 'fidelity', 'turned_passes', 'aligner')


def settings_of(restorer) -> dict:
  """How ``restorer`` restores faces (the :data:`SETTINGS` of its options), for the results."""
  return {name: getattr(restorer.options, name) for name in SETTINGS}


def settings_in_words(settings: dict, video: bool = False) -> str:
  """The restored paths' settings in words."""
  iterations = settings['video_back_projection_iterations' if video
                        else 'back_projection_iterations']
  return (f"{settings['alignments']} alignments"
          f"{', flip-averaged' if settings['flip_average'] else ''}, "
          f"{iterations} iterations of back-projection, fidelity {settings.get('fidelity', 1):g}"
          f"{', MTCNN with second looks turned ±25°' if settings.get('turned_passes') else ''}"
          f"{', landmarks corrected by the aligner' if settings.get('aligner') else ''}")


def valid_edges(edges: list[str] | None) -> bool:
  """Whether ``--face_sizes`` is unset or at least two rising positive integers."""
  if edges is None:
    return True
  if not all(edge.strip().isdigit() for edge in edges):
    return False
  values = [int(edge) for edge in edges]
  return len(values) >= 2 and values[0] > 0 and all(a < b for a, b in zip(values, values[1:]))
