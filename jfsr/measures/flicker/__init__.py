r"""Does restored video flicker? Frame-to-frame change of a moving face, against bicubic's.

    python -m jfsr.measures.flicker --model NAME --folder FACES --first 0 \
        [--faces 6] [--frames 24] [--json out.json]

Each held-out face becomes a clip: placed over a fixed textured background, it drifts
(0.25 to 0.5 small-frame pixels a frame), turns slowly (0.3 to 0.8 degrees a frame) and
grows a little, every frame blurred by the same linear motion and shrunk by the model's
factor to 8 bits, so that the face is 13 to 19 pixels across. Each clip is restored the
way ``jfsr.restore`` restores a video (detection on every frame, landmarks smoothed over
frames with the given ``--smoothing`` weights; ``--alignments``, ``--flip_average`` and
``--back_projection`` as ``jfsr.restore`` takes them, videos' defaults by default) and,
for comparison, enlarged by bicubic.

Every output frame is mapped back through the known motion onto the face's own
coordinates, where a perfect restoration would not change at all; the *flicker* is the
mean absolute change between consecutive frames there (middle 3/4 of the face, 0-255
scale). Its ratio to bicubic's says how much the restoration adds: bicubic's own change
comes only from the sampling grid moving under the face. ``--output_smoothing`` weights
add rows where each face's restored outputs are also averaged over time
(:class:`jfsr.faces.tracking.OutputSmoother`); every row also gives the mean PSNR of the
face against the truth on the same pixels, so that less flicker bought with blur shows.
"""

from __future__ import annotations


import numpy as np
from absl import logging


from jfsr.measures import in_frames, scenes



def moving_clip(truth: np.ndarray, lr_size: int, factor: int, frames: int,
                rng: np.random.Generator) -> list[scenes.Scene]:
  """``truth`` drifting, turning and growing slowly through ``frames`` frames."""
  hr = truth.shape[0]
  side = 3 * hr
  background = scenes.textured_background(rng, side)
  start = side / 2 + rng.uniform(-0.1, 0.1, 2) * side
  direction = rng.normal(size=2)
  velocity = direction / np.linalg.norm(direction) * rng.uniform(0.25, 0.5) * factor
  turn = rng.uniform(0.3, 0.8) * rng.choice([-1, 1])
  roll, scale = rng.uniform(-10, 10), rng.uniform(0.8, 1.1)
  blur_length, blur_angle = rng.uniform(2, 8), rng.uniform(0, 180)
  return [scenes.render_scene(
      truth, background, scenes.face_placement(hr, scale * (1 + 0.003 * t), roll + turn * t,
                                                  start + velocity * t),
      blur_length, blur_angle, lr_size, factor) for t in range(frames)]


def flicker_and_psnr(outputs: list[np.ndarray], clip: list[scenes.Scene], factor: int
                     ) -> tuple[float, float]:
  """Mean absolute change between consecutive output frames, on the face's own pixels, and
  the mean PSNR of those pixels against the truth."""
  hr = clip[0].truth.shape[0]
  middle = slice(hr // 8, hr - hr // 8)
  faces = [scenes.back_onto_truth(o, s, factor)[middle, middle].astype(np.float64)
           for o, s in zip(outputs, clip)]
  truth = clip[0].truth[middle, middle].astype(np.float64)
  psnr = np.mean([10 * np.log10(255.0 ** 2 / max(np.mean((f - truth) ** 2), 1e-10))
                  for f in faces])
  return float(np.mean([np.abs(b - a).mean() for a, b in zip(faces, faces[1:])])), float(psnr)


def measure_flicker(model: str | None, checkpoint: str | None, root: str | None, folder: str | None,
        first: int, count: int, frames: int, smoothings: list[float],
        output_smoothings: list[float] = (), seed: int = 0, options=None) -> dict:
  """The measure of the module docstring; ``options``
  (:class:`jfsr.restoration.options.RestoreOptions`), ``jfsr.restore``'s by default."""
  from jfsr import inference
  from jfsr.faces.detection import Detector
  from jfsr.faces.tracking import LandmarkSmoother, OutputSmoother
  from jfsr.restoration.options import RestoreOptions
  from jfsr.restoration.restorer import Restorer, enlarge
  config, variables, step = inference.load_generator(checkpoint=checkpoint, model=model)
  lr, factor = config.data.lr_size, config.data.hr_size // config.data.lr_size
  options = options or RestoreOptions()
  restorer = Restorer(config, variables, step, options=options,
                      detector=Detector('auto', max(6, lr // 2), turns=options.detector_turns,
                                        aligner=options.detector_aligner()))
  faces = scenes.held_out_faces(config, root, folder, first, count)
  rng = np.random.default_rng(seed)
  settings = [(s, 0.0) for s in smoothings] + [(smoothings[-1], w) for w in output_smoothings]
  name = lambda s, w: f'restored, smoothing {s}' + (f', outputs {w}' if w else '')
  rows = {'bicubic': [], **{name(s, w): [] for s, w in settings}, 'restored, true landmarks': []}
  found_share = []
  for index in range(min(count, len(faces))):
    clip = moving_clip(faces[index]['hr'], lr, factor, frames, rng)
    small = [s.frame for s in clip]
    rows['bicubic'].append(flicker_and_psnr([enlarge(f, factor) for f in small], clip, factor))
    detected = restorer.detector.detect(small, upright_first=True)  # as videos are
    found_share.append(np.mean([scenes.hit(f, s, clip[0].truth.shape[0])
                                for f, s in zip(detected, clip)]))
    for smoothing, weight in settings:
      smoother = LandmarkSmoother(smoothing)
      found = [smoother.update(faces_t) for faces_t in detected]
      images = [r.image for r in restorer.restore_frames(
          small, found, upscale=factor, force=True,
          smoother=OutputSmoother(weight) if weight else None, video=True)]
      rows[name(smoothing, weight)].append(flicker_and_psnr(images, clip, factor))
    truth_faces = [[scenes.true_face(s, clip[0].truth.shape[0])] for s in clip]
    images = [r.image for r in restorer.restore_frames(small, truth_faces, upscale=factor,
                                                       force=True, video=True)]
    rows['restored, true landmarks'].append(flicker_and_psnr(images, clip, factor))
    logging.info('clip %d: %s', index, {k: round(v[-1][0], 2) for k, v in rows.items()})
  bicubic = np.array([f for f, _ in rows['bicubic']])
  return {'model': model or str(checkpoint), 'step': step, 'clips': len(bicubic),
          'restorer_options': in_frames.settings_of(restorer),
          'frames': frames, 'face found in frames': float(np.mean(found_share)),
          'flicker': {k: float(np.mean([f for f, _ in v])) for k, v in rows.items()},
          'ratio to bicubic': {k: float(np.mean(np.array([f for f, _ in v]) / bicubic))
                               for k, v in rows.items()},
          'psnr': {k: float(np.mean([p for _, p in v])) for k, v in rows.items()}}


def markdown(result: dict) -> str:
  lines = [f"{result['clips']} clips of {result['frames']} frames, model {result['model']} "
           f"(step {result['step']}), {in_frames.settings_in_words(result['restorer_options'], True)}; faces "
           f"found in {result['face found in frames']:.0%} of frames", '', '| output | flicker (mean change per frame, 0-255) | ratio to bicubic | PSNR (dB) |',
           '|---|---|---|---|']
  for name, value in result['flicker'].items():
    lines.append(f"| {name} | {value:.2f} | {result['ratio to bicubic'][name]:.2f} | "
                 f"{result['psnr'][name]:.2f} |")
  return '\n'.join(lines)
