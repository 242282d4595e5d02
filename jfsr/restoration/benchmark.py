r"""Does aligning faces by landmarks beat cutting boxes? A benchmark on faces placed in frames.

    python -m jfsr.restoration.benchmark --model NAME --root ../shared/data/CelebAMask-HQ-mini \
        [--faces 60] [--json results.json]

Held-out faces (the model's test split of ``--root``: people it never saw) are put
into larger frames over textured backgrounds by known random similarity
transforms (rotation up to ±30°, in three buckets of 10°; scale 0.7 to 1.3;
shifts), the whole frame is blurred by a random linear motion and shrunk by the
model's factor (the training's antialiased bicubic), so that each face is about
the model's input size. Each frame is then restored (enlarged by the model's
factor) four ways:

* ``bicubic``: the frame enlarged, nothing restored;
* ``box (Haar)``: the Haar cascade's box, cut as a square (no roll), the path
  ``jfsr.restore`` took before landmarks;
* ``box (MTCNN)``: MTCNN's box, with the landmarks where they sit on average inside
  it (no roll, the box's scale): the same faces as the next row, cut without
  alignment, so that the two rows differ in alignment alone;
* ``aligned (MTCNN)``: five MTCNN landmarks, similarity warp, soft paste (the default);
* ``aligned (true landmarks)``: the same with the landmarks the transform put there,
  the ceiling that a perfect detector would reach.

Every restored frame is mapped back through the known transform onto the ground
truth face and scored on its middle (the central 3/4): PSNR and SSIM (the
standard protocol) and FaceNet's embedding distance to the ground truth (the
evaluation's MTCNN-aligned FaceNet; lower is better; faces FaceNet cannot find
are counted apart). A face a detector missed is scored as the frame enlarged,
since that is what the user gets; a second table scores the paths on the faces both
detectors found, so that they are compared on the same faces. Detection rates of
MTCNN and Haar are given by face size (its aligned crop's side in frame pixels) and
by rotation.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
from absl import flags, logging

FLAGS = flags.FLAGS
ROTATION_BUCKETS = ((0, 10), (10, 20), (20, 30))
SIZE_BUCKETS = ((0.7, 0.9), (0.9, 1.1), (1.1, 1.3))  # face scale relative to the model's input
PATHS = ('bicubic', 'box (Haar)', 'box (MTCNN)', 'aligned (MTCNN)', 'aligned (true landmarks)')


@dataclasses.dataclass
class Scene:
  """A degraded frame holding one face, and how the face got there."""
  frame: np.ndarray         # the small, blurred frame (uint8)
  truth: np.ndarray         # the ground-truth face (hr x hr uint8)
  face_to_frame: np.ndarray  # 2x3: ground-truth face pixels -> small-frame pixels
  rotation: float           # degrees
  scale: float              # the face's size over the model's input size


def textured_background(rng: np.random.Generator, side: int) -> np.ndarray:
  """Blurred colour noise over a colour gradient: a background with edges everywhere."""
  import cv2
  noise = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
  texture = cv2.GaussianBlur(noise, (0, 0), rng.uniform(1.5, 5)).astype(np.float32)
  ramp = np.linspace(0, 1, side, dtype=np.float32)[:, None, None]
  gradient = rng.uniform(0, 255, 3) * (1 - ramp) + rng.uniform(0, 255, 3) * ramp
  return np.clip(0.6 * texture + 0.4 * gradient, 0, 255).astype(np.uint8)


def line_blur(image: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
  """``image`` blurred by a centred linear motion of ``length`` pixels."""
  import cv2
  side = int(np.ceil(length)) | 1
  kernel = np.zeros((side, side), np.float32)
  c, d = side // 2, (length - 1) / 2
  dx, dy = d * np.cos(np.radians(angle_deg)), d * np.sin(np.radians(angle_deg))
  cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
  return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def make_scene(truth: np.ndarray, lr_size: int, factor: int, bucket: tuple[int, int],
               rng: np.random.Generator) -> Scene:
  """``truth`` (hr x hr) rotated, scaled and shifted into a frame three faces wide, blurred,
  and shrunk ``factor`` times."""
  from jfsr.data.degrade import resize_bicubic
  from jfsr.faces import alignment
  hr = truth.shape[0]
  side = 3 * hr
  rotation = float(rng.uniform(*bucket) * rng.choice([-1, 1]))
  scale = float(rng.uniform(0.7, 1.3))
  a = scale * np.cos(np.radians(rotation))
  b = scale * np.sin(np.radians(rotation))
  centre = side / 2 + rng.uniform(-0.12, 0.12, 2) * side
  linear = np.array([[a, -b], [b, a]])
  face_to_big = np.concatenate([linear, (centre - linear @ [hr / 2, hr / 2])[:, None]], axis=1)
  big = textured_background(rng, side)
  face = alignment.warp(truth, face_to_big, side, border='constant')
  inside = alignment.warp(np.full((hr, hr), 255, np.uint8), face_to_big, side,
                          border='constant')[..., None] / 255.0
  big = (big * (1 - inside) + face * inside).astype(np.float32)
  big = line_blur(big, rng.uniform(2, 12), rng.uniform(0, 180))
  small = resize_bicubic(big, side // factor)
  frame = np.clip(small + 0.5, 0, 255).astype(np.uint8)
  to_small = np.array([[1 / factor, 0, 0.5 / factor - 0.5], [0, 1 / factor, 0.5 / factor - 0.5]])
  return Scene(frame, truth, alignment.compose(to_small, face_to_big), rotation,
               scale * hr / factor / lr_size)


def back_onto_truth(restored: np.ndarray, scene: Scene, factor: int) -> np.ndarray:
  """A restored frame (``factor`` times the small one) resampled onto the ground-truth face."""
  from jfsr.faces import alignment
  face_to_output = alignment.compose(alignment.pixel_scale(factor), scene.face_to_frame)
  return alignment.warp(restored, alignment.invert(face_to_output), scene.truth.shape[0])


def true_face(scene: Scene, hr: int):
  from jfsr.faces import alignment
  from jfsr.faces.detection import FoundFace
  landmarks = alignment.apply_transform(scene.face_to_frame, alignment.template_points(hr))
  return FoundFace((0, 0, 1, 1), 1.0, landmarks, 'truth')


def box_only(face):
  """An MTCNN face with its own landmarks replaced by where they sit on average in its box
  (:data:`jfsr.faces.alignment.FACENET_TEMPLATE`, measured in MTCNN's boxes)."""
  from jfsr.faces import alignment
  x1, y1, x2, y2 = face.box
  average = alignment.FACENET_TEMPLATE / alignment.FACENET_SIZE * [x2 - x1, y2 - y1] + [x1, y1]
  return dataclasses.replace(face, landmarks=average)


def hit(found: list, scene: Scene, hr: int) -> bool:
  """Whether a detection's landmarks centre lies within a quarter face of the true one."""
  truth = true_face(scene, hr).landmarks.mean(0)
  side = hr * np.sqrt(abs(np.linalg.det(scene.face_to_frame[:, :2])))  # in frame pixels
  return any(np.linalg.norm(f.landmarks.mean(0) - truth) < 0.25 * side for f in found)


def run(model: str, root: str, count: int, seed: int = 0) -> dict:
  from jfsr import checkpointing
  from jfsr.data import pipeline
  from jfsr.faces.detection import Detector
  from jfsr.metrics import fidelity, identity
  from jfsr.pretrained import facenet_weights
  from jfsr.restoration.restorer import Restorer, enlarge

  config, variables, step = checkpointing.load_generator(model=model)
  config.data.root = root
  lr, hr, factor = config.data.lr_size, config.data.hr_size, config.data.hr_size // config.data.lr_size
  min_face = max(6, lr // 2)
  detectors = {'haar': Detector('haar', min_face), 'mtcnn': Detector('mtcnn', min_face)}
  restorers = {name: Restorer(config, variables, step, detector=d) for name, d in detectors.items()}
  source = pipeline.make_source(config, 'test')
  rng = np.random.default_rng(seed)
  scenes = []
  for i in range(min(count, len(source))):
    bucket = ROTATION_BUCKETS[i % len(ROTATION_BUCKETS)]
    scenes.append(make_scene(source[i]['hr'], lr, factor, bucket, rng))
  logging.info('%d scenes: faces %d-%d px in %dx%d frames', len(scenes),
               min(s.scale for s in scenes) * lr, max(s.scale for s in scenes) * lr,
               *scenes[0].frame.shape[:2])
  frames = [s.frame for s in scenes]
  found = {name: d.detect(frames) for name, d in detectors.items()}
  outputs = {
      'bicubic': [enlarge(f, factor) for f in frames],
      'box (Haar)': [r.image for r in restorers['haar'].restore_frames(
          frames, found['haar'], upscale=factor, force=True)],
      'box (MTCNN)': [r.image for r in restorers['mtcnn'].restore_frames(
          frames, [[box_only(f) for f in faces] for faces in found['mtcnn']], upscale=factor,
          force=True)],
      'aligned (MTCNN)': [r.image for r in restorers['mtcnn'].restore_frames(
          frames, found['mtcnn'], upscale=factor, force=True)],
      'aligned (true landmarks)': [r.image for r in restorers['mtcnn'].restore_frames(
          frames, [[true_face(s, hr)] for s in scenes], upscale=factor, force=True)],
  }
  truths = np.stack([s.truth for s in scenes])
  network, facenet_variables = facenet_weights.load_facenet()
  embed = identity.jitted_embed(network, facenet_variables)
  finder = identity.mtcnn_face_finder()
  truth_crops, truth_found = identity.face_crops(truths, finder)
  truth_embedding = np.asarray(embed(truth_crops))
  border = hr // 8
  per_face = {}
  for path, images in outputs.items():
    mapped = np.stack([back_onto_truth(image, s, factor) for image, s in zip(images, scenes)])
    middle = (slice(None), slice(border, hr - border), slice(border, hr - border))
    metrics = fidelity.standard_metrics(truths[middle], mapped[middle])
    crops, found_here = identity.face_crops(mapped, finder)
    distance = np.linalg.norm(np.asarray(embed(crops)) - truth_embedding, axis=-1)
    usable = found_here & truth_found
    per_face[path] = {'psnr': np.asarray(metrics['psnr']), 'ssim': np.asarray(metrics['ssim']),
                      'id_distance': np.where(usable, distance, np.nan)}
  rotations = np.abs([s.rotation for s in scenes])
  scales = np.array([s.scale for s in scenes])
  hits = {name: np.array([hit(f, s, hr) for f, s in zip(faces, scenes)])
          for name, faces in found.items()}

  def by_rotation(among: np.ndarray) -> dict:
    table = {}
    for low, high in ROTATION_BUCKETS:
      chosen = (rotations >= low) & (rotations < high) & among
      table[f'{low}-{high} deg'] = {
          path: {k: float(np.nanmean(v[chosen])) for k, v in values.items()}
          | {'faces': int(chosen.sum())} for path, values in per_face.items()}
    table['all'] = {path: {k: float(np.nanmean(v[among])) for k, v in values.items()}
                    | {'faces': int(among.sum())} for path, values in per_face.items()}
    return table
  detection = {'by size (face / model input)': {}, 'by rotation': {}}
  for low, high in SIZE_BUCKETS:
    chosen = (scales >= low) & (scales < high)
    detection['by size (face / model input)'][f'{low * lr:.0f}-{high * lr:.0f} px'] = {
        name: float(h[chosen].mean()) for name, h in hits.items()} | {'faces': int(chosen.sum())}
  for low, high in ROTATION_BUCKETS:
    chosen = (rotations >= low) & (rotations < high)
    detection['by rotation'][f'{low}-{high} deg'] = {
        name: float(h[chosen].mean()) for name, h in hits.items()} | {'faces': int(chosen.sum())}
  return {'model': model, 'step': step, 'faces': len(scenes), 'lr_size': lr, 'hr_size': hr,
          'identity_unusable': {p: int(np.isnan(v['id_distance']).sum())
                                for p, v in per_face.items()},
          'scores': by_rotation(np.ones(len(scenes), bool)),
          # The faces both detectors found: the paths compared on the same faces, apart
          # from which faces each detector misses (a miss is left bicubic).
          'scores_found_by_both': by_rotation(hits['haar'] & hits['mtcnn']),
          'detection': detection}


def markdown(result: dict) -> str:
  lines = [f"{result['faces']} held-out faces, model {result['model']} (step {result['step']}), "
           f"{result['lr_size']}² -> {result['hr_size']}²; PSNR dB / SSIM / FaceNet distance "
           '(lower is better)']
  for title, key in (('all faces', 'scores'), ('faces both detectors found', 'scores_found_by_both')):
    lines += ['', f'| rotation ({title}) | faces | ' + ' | '.join(PATHS) + ' |',
              '|---|---|' + '---|' * len(PATHS)]
    for bucket, by_path in result[key].items():
      cells = [f"{by_path[p]['psnr']:.2f} / {by_path[p]['ssim']:.3f} / "
               f"{by_path[p]['id_distance']:.3f}" for p in PATHS]
      lines.append(f"| {bucket} | {by_path[PATHS[0]]['faces']} | " + ' | '.join(cells) + ' |')
  lines += ['', '| detection rate | MTCNN | Haar | faces |', '|---|---|---|---|']
  for kind, buckets in result['detection'].items():
    for bucket, rates in buckets.items():
      lines.append(f"| {kind}: {bucket} | {rates['mtcnn']:.2f} | {rates['haar']:.2f} | "
                   f"{rates['faces']} |")
  return '\n'.join(lines)


def main(argv) -> None:
  del argv
  from jfsr import compile_cache
  from jfsr.errors import JfsrError
  from jfsr.pretrained.cache import MissingWeightsError
  compile_cache.enable()
  try:
    result = run(FLAGS.model, FLAGS.root, FLAGS.faces, FLAGS.seed)
  except (JfsrError, MissingWeightsError, FileNotFoundError) as error:
    sys.exit(f'error: {error}')
  if FLAGS.json:
    with open(FLAGS.json, 'w') as f:
      json.dump(result, f, indent=2)
  print(markdown(result))


if __name__ == '__main__':
  from jfsr import cli, host_memory
  host_memory.restart_with_fast_allocator()
  flags.DEFINE_string('model', None, 'a shipped model NAME or packed .npz', required=True)
  flags.DEFINE_string('root', None, 'CelebAMask-HQ root: its test split (the model\'s config) '
                      'gives the faces', required=True)
  flags.DEFINE_integer('faces', 60, 'how many held-out faces (spread over the rotation buckets)')
  flags.DEFINE_integer('seed', 0, 'for the transforms, backgrounds and blurs')
  flags.DEFINE_string('json', None, 'also write the results here')
  cli.run(main, __name__)
