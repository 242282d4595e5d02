"""``Restorer``: a trained generator loaded once, restoring faces in crops and frames.

    from jfsr.restoration import Restorer
    restorer = Restorer.from_checkpoint('/runs/celebahq')           # or .../checkpoints/40000
    restorer = Restorer.from_pretrained(NAME)                         # a shipped model
    faces = restorer.restore_crops([crop_a, crop_b])                  # (2, S, S, 3) uint8
    result = restorer.restore_frame(frame)                            # detect, align, paste
    result.image, result.scale, [f.restored for f in result.faces]

Frames go the way the face-restoration tools go: each face's five landmarks
(:mod:`jfsr.faces.detection`) give a similarity transform onto the template of
the training faces, the face is warped once, straight to the model's input size,
restored (under a few nudged alignments, each also mirrored, and the outputs
averaged: :mod:`jfsr.restoration.ensemble`), warped back into the upscaled frame
under a soft elliptical mask (:mod:`jfsr.faces.blend`), and made to agree with the
frame it came from (:mod:`jfsr.restoration.back_projection`, over the face's
square); pixels outside the square are the upscaled frame's.

The model restores *small* faces: a face whose aligned crop is more than
``max_shrink`` times the model's input would lose detail on the way in, so it is
left as it was unless ``force``. Without an explicit ``upscale`` the frame is
enlarged so that the restored faces keep the model's output resolution (at most
the model's factor; 1 when no face is restored).

A restorer may hold generators for several input sizes (``Restorer.load()`` with no
model named: the shipped 16-px and 32-px models); each face then goes to the one
whose input its aligned crop is nearest to (on a log scale: 16-px for faces up to
about 22 px, 32-px above), and is left as it was beyond ``max_shrink`` times the
largest input.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Callable, Iterator, Sequence

import jax
import ml_collections
import numpy as np
from PIL import Image

from jfsr import grids, inference
from jfsr.faces import alignment, blend
from jfsr.faces.alignment import pixel_scale
from jfsr.faces.detection import Detector, FoundFace, default_min_face
from jfsr.faces.tracking import OutputSmoother
from jfsr.restoration import back_projection, ensemble
from jfsr.restoration.jpeg_grid import JpegGrid
from jfsr.restoration.options import RestoreOptions

MAX_SHRINK = 1.5  # largest face, as its aligned crop's side over the model's input side


@dataclasses.dataclass(frozen=True)
class SizedGenerator:
  """One generator a restorer holds: its config (sizes, input colour), the step it was
  trained to, what it is called, and ``generate``: a fixed batch of float32 model inputs in
  [-1, 1] -> uint8 outputs."""
  config: ml_collections.ConfigDict
  step: int | None
  name: str
  generate: Callable[[np.ndarray], np.ndarray]

  @property
  def lr_size(self) -> int:
    return self.config.data.lr_size

  @property
  def hr_size(self) -> int:
    return self.config.data.hr_size

  @property
  def factor(self) -> int:
    return self.hr_size // self.lr_size


def nearest_generator(side: float, lr_sizes: Sequence[int]) -> int:
  """The index of the input size nearest ``side`` on a log scale (ties: the smaller)."""
  distances = [abs(np.log(side / lr)) for lr in lr_sizes]
  return int(np.argmin(distances))


class FrameTooLargeError(ValueError):
  """A frame that even unenlarged is above the output-size bound."""


def bounded_scale(scale: int, shape: tuple[int, ...], max_pixels: int) -> int:
  """``scale`` lowered until the enlarged frame holds at most ``max_pixels`` (at least 1);
  a frame above the bound at 1 is refused (:class:`FrameTooLargeError`)."""
  pixels = shape[0] * shape[1]
  if pixels > max_pixels:
    raise FrameTooLargeError(f'{shape[1]}x{shape[0]} ({pixels / 1e6:.0f} MP) is above the '
                             f'output bound of {max_pixels / 1e6:.0f} MP')
  return max(1, min(scale, int(np.sqrt(max_pixels / pixels))))


def as_rgb(image) -> np.ndarray:
  """A uint8 RGB ``(H, W, 3)`` array from a PIL image or an array (grey or RGBA converted)."""
  if isinstance(image, Image.Image):
    image = np.asarray(image.convert('RGB'))
  image = np.asarray(image)
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, axis=-1)
  if image.ndim != 3 or image.shape[-1] not in (3, 4) or image.dtype != np.uint8:
    raise ValueError(f'expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}')
  return np.ascontiguousarray(image[..., :3])


def choose_upscale(sides: Sequence[float], hr_size: int | Sequence[int], factor: int) -> int:
  """The frame's enlargement that brings its restored faces (aligned crops of ``sides``
  pixels) nearest their models' output size (``hr_size``: one, or each face's): 1 to
  ``factor``, 1 without faces."""
  if not len(sides):
    return 1
  hr_sizes = np.broadcast_to(np.asarray(hr_size, np.float64), (len(sides),))
  # Each side as if its face went to the first face's model, so one model is hr / median.
  sides = np.asarray(sides, np.float64) * hr_sizes[0] / hr_sizes
  return int(np.clip(round(hr_sizes[0] / float(np.median(sides))), 1, factor))


@dataclasses.dataclass
class FaceResult:
  """One face of a frame: where it was, the aligned crop's side in frame pixels, whether it
  was restored, and (if so) the model's input and output."""
  face: FoundFace
  side: float
  restored: bool
  to_model: np.ndarray  # 2x3: frame pixels -> model input pixels
  generator: int = 0  # which of the restorer's generators (``Restorer.generators``)
  model_input: np.ndarray | None = None
  output: np.ndarray | None = None


@dataclasses.dataclass
class FrameResult:
  """A restored frame: the output image, the frame's enlargement, its faces, and (with
  ``compare``) a side-by-side of the model's input, bicubic and the output."""
  image: np.ndarray
  scale: int
  faces: list[FaceResult]
  compare: np.ndarray | None = None
  scale_wanted: int | None = None  # the scale asked or chosen, where the output bound lowered it


class Restorer:
  """A generator with its variables on one device, and the pre/post-processing around it,
  restoring as its :class:`~jfsr.restoration.options.RestoreOptions` say."""

  def __init__(self, config: ml_collections.ConfigDict, variables: dict | None,
               step: int | None = None, device: jax.Device | None = None,
               options: RestoreOptions | None = None, detector: Detector | None = None,
               generate: Callable[[np.ndarray], np.ndarray] | None = None,
               name: str = '', others: Sequence[SizedGenerator] = (), **changes):
    """``options`` (default: :class:`RestoreOptions`' defaults), with ``changes`` to its
    fields (``Restorer(..., fidelity=0)``), say how faces are restored: see
    :class:`RestoreOptions` and, for ``fidelity``, :func:`toward`. ``detector`` replaces
    the one the options would make. ``generate`` (float32 model inputs -> uint8 outputs, a
    fixed batch of ``options.batch_size``) replaces the JAX generator, whose ``variables``
    are then not needed (``from_onnx``). ``others``: generators for other input sizes,
    each face going to the nearest (:func:`nearest_generator`); this generator, named
    ``name``, gives the restorer's ``config``, ``step`` and sizes."""
    self.config = config
    self.options = dataclasses.replace(options or RestoreOptions(), **changes)
    self.step = step  # the checkpoint's, when loaded from one
    self.device = device or jax.devices()[0]
    self._detector = detector
    generate = generate or self._jax_generator(config, variables)
    self.generators = (SizedGenerator(config, step, name, generate), *others)
    sizes = [g.lr_size for g in self.generators]
    if len(set(sizes)) != len(sizes):
      raise ValueError(f'generators for input sizes {sizes}: give one per size')
    if len({g.config.data.grayscale_input for g in self.generators}) > 1:
      raise ValueError('generators for colour and for grayscale input cannot restore together')

  def with_options(self, **changes) -> 'Restorer':
    """This restorer with ``changes`` to its options, sharing its generator and detector."""
    other = copy.copy(self)
    other.options = dataclasses.replace(self.options, **changes)
    return other

  def with_detector(self, detector: Detector) -> 'Restorer':
    """This restorer finding faces with ``detector``, sharing its generators."""
    other = copy.copy(self)
    other._detector = detector
    return other

  def _jax_generator(self, config: ml_collections.ConfigDict, variables: dict
                     ) -> Callable[[np.ndarray], np.ndarray]:
    on_device = jax.device_put(variables, self.device)
    sample = inference.make_sampler(config)

    @jax.jit
    def restore(variables, lr):
      return grids.to_uint8(sample(variables, lr)['out_sharp'])  # on the device: a quarter of the bytes back
    return lambda lr: np.asarray(jax.device_get(restore(on_device,
                                                        jax.device_put(lr, self.device))))

  @classmethod
  def from_checkpoint(cls, path: str | Path, device: jax.Device | None = None,
                      **keywords) -> 'Restorer':
    """Loads the generator of a training run: its workdir (latest checkpoint) or one
    checkpoint's directory ``WORKDIR/checkpoints/STEP``."""
    config, variables, step = inference.load_generator(checkpoint=path, device=device)
    return cls(config, variables, step, device, **keywords)

  @classmethod
  def from_pretrained(cls, name: str, device: jax.Device | None = None,
                      **keywords) -> 'Restorer':
    """Loads a shipped generator by NAME (``python -m jfsr.pretrained list``) or a packed
    ``.npz`` file; nothing is downloaded, and its SHA-256 is checked."""
    config, variables, step = inference.load_generator(model=name, device=device)
    return cls(config, variables, step, device, name=name, **keywords)

  @classmethod
  def by_face_size(cls, names: Sequence[str], device: jax.Device | None = None,
                   **keywords) -> 'Restorer':
    """The shipped generators ``names`` together, each face restored by the one whose input
    size suits it (the first named gives ``config`` and ``step``)."""
    first, *rest = [cls.from_pretrained(name, device, **keywords) for name in names]
    return cls(first.config, None, first.step, first.device, first.options, first._detector,
               first.generators[0].generate, names[0],
               [r.generators[0] for r in rest])

  @classmethod
  def from_onnx(cls, path: str | Path, threads: int | None = None, **keywords) -> 'Restorer':
    """The generator of a ``jfsr.export --to onnx`` file, run by onnxruntime instead of JAX
    (detection and alignment stay the same)."""
    from jfsr.restoration.onnx_generator import OnnxGenerator
    generator = OnnxGenerator(path, threads)
    return cls(generator.config, None, generator.step, generate=generator, **keywords)

  @classmethod
  def load(cls, model: str | None = None, checkpoint: str | Path | None = None,
           onnx: str | Path | None = None, **keywords) -> 'Restorer':
    """From one of a shipped ``model``, a training run's ``checkpoint`` and an exported
    ``onnx`` file (what ``jfsr.restore`` and ``jfsr.demo`` take; none: the default model,
    :data:`jfsr.pretrained.generators.DEFAULT_MODELS` together, by face size); ``keywords``
    go to the constructor (``options=``, ``device=``, option fields)."""
    from jfsr.errors import UsageError
    from jfsr.pretrained.generators import DEFAULT_MODELS
    if sum(bool(source) for source in (model, checkpoint, onnx)) > 1:
      raise UsageError('give exactly one of --model (a shipped model: python -m jfsr.pretrained '
                      'list), --checkpoint (a training run) and --onnx (an exported generator)')
    if not (model or checkpoint or onnx):
      return cls.by_face_size(DEFAULT_MODELS, **keywords)
    if onnx:
      return cls.from_onnx(onnx, **keywords)
    if model:
      return cls.from_pretrained(model, **keywords)
    return cls.from_checkpoint(checkpoint, **keywords)

  def model_names(self) -> list[str]:
    """Each generator's name, by index (``FaceResult.generator``)."""
    return [g.name for g in self.generators]

  @property
  def lr_size(self) -> int:
    """The first generator's input side (its sizes are the restorer's own)."""
    return self.generators[0].lr_size

  @property
  def hr_size(self) -> int:
    return self.generators[0].hr_size

  @property
  def factor(self) -> int:
    return self.generators[0].factor

  @property
  def detector(self) -> Detector:
    """The face detector the options name, made on first use (or the one given)."""
    if self._detector is None:
      o = self.options
      smallest = min(g.lr_size for g in self.generators)
      self._detector = Detector(o.detector, o.min_face or default_min_face(smallest), o.threshold,
                                turns=o.detector_turns, aligner=o.detector_aligner())
    return self._detector

  # --- The generator ----------------------------------------------------------------

  def restore_inputs(self, inputs: np.ndarray, generator: int = 0) -> np.ndarray:
    """Model inputs, ``(n, lr, lr, 3)`` uint8 RGB, -> ``(n, hr, hr, 3)`` uint8 outputs of
    ``generators[generator]``, in batches of ``batch_size`` (the last padded, so the
    generator compiles once); with ``flip_average``, each averaged with its mirror image's,
    moved towards the plain output as ``fidelity`` says."""
    averaged, plain = self._restore_inputs(inputs, generator)
    return toward(plain, averaged, self.options.fidelity)

  def _restore_inputs(self, inputs: np.ndarray, generator: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The outputs flip-averaged (with ``flip_average``), and the plain ones (neither
    mirrored nor averaged); the flip average is left out at ``fidelity`` 0, which never
    shows it."""
    g = self.generators[generator]
    if not len(inputs):
      empty = np.zeros((0, g.hr_size, g.hr_size, 3), np.uint8)
      return empty, empty
    arrays = np.stack([self._as_model_array(x) for x in inputs])
    flip = self.options.flip_average and self.options.fidelity > 0
    if flip:
      arrays = np.concatenate([arrays, arrays[:, :, ::-1]])
    outputs = []
    batch = self.options.batch_size
    for start in range(0, len(arrays), batch):
      chunk = arrays[start:start + batch]
      padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), 0)])
      outputs.append(g.generate(padded)[:len(chunk)])
    outputs = np.concatenate(outputs)
    if not flip:
      return outputs, outputs
    direct, mirrored = np.split(outputs, 2)
    averaged = ((direct.astype(np.uint16) + mirrored[:, :, ::-1] + 1) // 2).astype(np.uint8)
    return averaged, direct

  def _as_model_array(self, lr_uint8: np.ndarray) -> np.ndarray:
    if self.config.data.grayscale_input:  # the same for every generator (``load`` checks)
      lr_uint8 = np.asarray(Image.fromarray(lr_uint8).convert('L'))[..., None]
    return lr_uint8.astype(np.float32) / 127.5 - 1.0

  def generator_for(self, side: float) -> int:
    """Which generator restores a face whose aligned crop is ``side`` pixels."""
    return nearest_generator(side, [g.lr_size for g in self.generators])

  def model_input(self, crop: np.ndarray, generator: int = 0) -> np.ndarray:
    """A face crop resized to a generator's input (antialiased bicubic), uint8."""
    lr = self.generators[generator].lr_size
    return np.asarray(Image.fromarray(as_rgb(crop)).resize((lr, lr), Image.Resampling.BICUBIC))

  def restore_aligned(self, faces: Sequence[tuple[np.ndarray, FaceResult]],
                      generator: int = 0) -> np.ndarray:
    """Each planned face of its frame (all planned for ``generators[generator]``) restored
    under ``alignments`` nudged alignments (:mod:`jfsr.restoration.ensemble`), averaged in
    the first one's coordinates, and moved towards the plain single pass as ``fidelity``
    says; ``batch_size`` faces at a time, so that memory does not grow with the faces."""
    o, g = self.options, self.generators[generator]
    maps = ensemble.nudges(g.lr_size, o.alignments if o.fidelity > 0 else 1)
    restored = [np.zeros((0, g.hr_size, g.hr_size, 3), np.uint8)]
    for start in range(0, len(faces), self.options.batch_size):
      group = faces[start:start + self.options.batch_size]
      inputs = [p.model_input if i == 0 else
                alignment.model_input_crop(frame, alignment.compose(nudge, p.to_model),
                                           g.lr_size)
                for frame, p in group for i, nudge in enumerate(maps)]
      outputs, plain = self._restore_inputs(np.stack(inputs), generator)
      outputs = outputs.reshape(len(group), len(maps), *outputs.shape[1:])
      plain = plain.reshape(outputs.shape)[:, 0]
      averaged = outputs[:, 0] if len(maps) == 1 else np.stack(
          [ensemble.average_back(o, maps, g.factor) for o in outputs])
      restored.append(toward(plain, averaged, self.options.fidelity))
    return np.concatenate(restored)

  def restore_planned(self, faces: Sequence[tuple[np.ndarray, FaceResult]]) -> None:
    """Sets ``output`` of each planned face of its frame, each restored by its generator."""
    for generator in range(len(self.generators)):
      mine = [(frame, p) for frame, p in faces if p.generator == generator]
      for (_, p), output in zip(mine, self.restore_aligned(mine, generator)):
        p.output = output

  def restore_crops(self, crops: Sequence, generator: int = 0) -> np.ndarray:
    """Face crops (any size, framed like the training faces) -> (n, S, S, 3) uint8."""
    lr = self.generators[generator].lr_size
    return self.restore_inputs(np.stack([self.model_input(c, generator) for c in crops])
                               if len(crops) else np.zeros((0, lr, lr, 3), np.uint8), generator)

  # --- Frames -----------------------------------------------------------------------

  def plan(self, face: FoundFace, force: bool = False, max_shrink: float = MAX_SHRINK
           ) -> FaceResult:
    """The face's generator (:meth:`generator_for`), its transform to that generator's
    input, and whether restoring it can gain."""
    to_model = alignment.template_transform(face.landmarks, self.lr_size)
    side = self.lr_size / float(np.sqrt(abs(np.linalg.det(to_model[:, :2]))))
    generator = self.generator_for(side)
    lr = self.generators[generator].lr_size
    if generator:
      to_model = alignment.template_transform(face.landmarks, lr)
    return FaceResult(face, side, force or side <= max_shrink * lr, to_model, generator)

  def restore_frames(self, frames: Sequence, found: Sequence[Sequence[FoundFace]] | None = None,
                     upscale: int | None = None, force: bool = False,
                     max_shrink: float = MAX_SHRINK, compare: bool = False,
                     smoother: OutputSmoother | None = None, video: bool = False,
                     jpeg_grids: Sequence[JpegGrid | None] | None = None) -> list[FrameResult]:
    """Restores the faces of each frame (all of them in shared generator batches).

    Args:
      found: each frame's faces, e.g. smoothed over a video; by default the detector's.
      upscale: the frames' enlargement; by default each frame's own (:func:`choose_upscale`).
      force: restore large faces too.
      compare: also build ``FrameResult.compare`` (its three panels count against the
        output bound).
      smoother: consecutive video frames: average each tracked face's outputs over time.
      video: the frames are a video's: ``video_back_projection_iterations`` iterations.
      jpeg_grids: each frame's JPEG grid (:func:`jfsr.restoration.jpeg_grid.grid_of` its
        file; None for a frame that was not a JPEG). Where given, back-projection holds the
        face to what the file stores instead of to the decoded pixels.
    """
    return list(self.restore_frames_lazily(frames, found, upscale, force, max_shrink, compare,
                                           smoother, video, jpeg_grids))

  def restore_frames_lazily(self, frames: Sequence,
                            found: Sequence[Sequence[FoundFace]] | None = None,
                            upscale: int | None = None, force: bool = False,
                            max_shrink: float = MAX_SHRINK, compare: bool = False,
                            smoother: OutputSmoother | None = None, video: bool = False,
                            jpeg_grids: Sequence[JpegGrid | None] | None = None
                            ) -> Iterator[FrameResult]:
    """:meth:`restore_frames`, each frame's enlarged result made only when the next is
    asked for: a caller that writes each before asking holds one enlarged frame at a time."""
    frames = [as_rgb(f) for f in frames]
    found = self.detector.detect(frames) if found is None else found
    plans = self.prepare(frames, found, force, max_shrink)
    self.restore_planned([(frame, p) for frame, frame_plans in zip(frames, plans)
                          for p in frame_plans if p.restored])
    if smoother is not None:
      for faces, frame_plans in zip(found, plans):
        smoothed = smoother.update(list(faces), [p.output for p in frame_plans])
        for p, output in zip(frame_plans, smoothed):
          p.output = output
    for frame, frame_plans, grid in zip(frames, plans, jpeg_grids or [None] * len(frames)):
      scale, wanted = self.output_scale([p for p in frame_plans if p.restored], frame.shape,
                                        upscale, compare)
      result = self.paste_faces(frame, frame_plans, scale, compare, self.iterations(video), grid)
      result.scale_wanted = wanted if scale < wanted else None
      yield result

  def iterations(self, video: bool = False) -> int:
    """Back-projection iterations for a photo or a video frame, at this ``fidelity``."""
    o = self.options
    full = o.video_back_projection_iterations if video else o.back_projection_iterations
    return round(o.fidelity * full)

  def output_scale(self, restored: Sequence[FaceResult], shape: tuple[int, ...],
                   upscale: int | None = None, compare: bool = False) -> tuple[int, int]:
    """The enlargement of a frame of ``shape`` whose ``restored`` faces are these, and the
    one wanted before the output bound (``upscale``, else :func:`choose_upscale`); with
    ``compare`` the bound holds for the three panels together."""
    wanted = upscale or choose_upscale(
        [p.side for p in restored], [self.generators[p.generator].hr_size for p in restored],
        max(g.factor for g in self.generators))
    bound = self.options.max_output_pixels // (3 if compare else 1)
    return bounded_scale(wanted, shape, bound), wanted

  def prepare(self, frames: Sequence[np.ndarray], found: Sequence[Sequence[FoundFace]],
              force: bool = False, max_shrink: float = MAX_SHRINK) -> list[list[FaceResult]]:
    """Each frame's faces planned (:meth:`plan`) and, where restored, warped to the model's
    input (once, at its size)."""
    plans = [[self.plan(face, force, max_shrink) for face in faces] for faces in found]
    for frame, frame_plans in zip(frames, plans):
      for p in frame_plans:
        if p.restored:
          p.model_input = alignment.model_input_crop(frame, p.to_model,
                                                     self.generators[p.generator].lr_size)
    return plans

  def restore_frame(self, frame, found: Sequence[FoundFace] | None = None,
                    **options) -> FrameResult:
    """One frame (and its faces, by default the detector's); see :meth:`restore_frames`."""
    return self.restore_frames([frame], None if found is None else [found], **options)[0]

  def paste_faces(self, frame: np.ndarray, plans: list[FaceResult], scale: int,
                  compare: bool = False, iterations: int | None = None,
                  grid: JpegGrid | None = None) -> FrameResult:
    """The frame enlarged ``scale`` times with the restored faces of ``plans`` pasted in,
    each back-projected ``iterations`` times (default: a photo's, :meth:`iterations`;
    within the quantization of the JPEG ``grid`` the frame was decoded with, if given)."""
    iterations = self.iterations() if iterations is None else iterations
    base = enlarge(frame, scale)
    out = base.copy() if compare else base  # a 59 MB copy at x8 of 640x480: only if needed
    shown = base.copy() if compare else None
    for p in plans:
      if not p.restored:
        continue
      g = self.generators[p.generator]
      # frame(upscaled) -> frame -> model input -> model output
      frame_to_face = alignment.compose(pixel_scale(g.factor), alignment.compose(
          p.to_model, alignment.invert(pixel_scale(scale))))
      if blend.paste(out, p.output, frame_to_face) is not None and iterations:
        square = blend.footprint(out.shape, g.hr_size, frame_to_face,
                                 blend.square_mask(g.hr_size, back_projection.FEATHER))
        back_projection.back_project(out, frame, scale, square, iterations, grid)
      if compare:
        seen = np.asarray(Image.fromarray(p.model_input).resize(
            (g.hr_size, g.hr_size), Image.Resampling.NEAREST))
        blend.paste(shown, seen, frame_to_face)
    side_by_side = np.concatenate([shown, base, out], axis=1) if compare else None
    return FrameResult(out, scale, plans, side_by_side)


def toward(plain: np.ndarray, faithful: np.ndarray, fidelity: float) -> np.ndarray:
  """``plain + fidelity x (faithful - plain)``, rounded (uint8 in and out): the two
  themselves at 0 and 1."""
  if fidelity >= 1:
    return faithful
  if fidelity <= 0:
    return plain
  mixed = plain.astype(np.float32) + fidelity * (faithful.astype(np.float32) - plain)
  return np.clip(np.floor(mixed + 0.5), 0, 255).astype(np.uint8)


def enlarge(frame: np.ndarray, scale: int) -> np.ndarray:
  """The frame ``scale`` times larger (OpenCV's bicubic: several times faster than PIL's on
  the large frames of an x8 enlargement), or a copy of it for 1."""
  import cv2
  if scale == 1:
    return frame.copy()
  h, w = frame.shape[:2]
  return cv2.resize(frame, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
