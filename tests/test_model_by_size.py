"""Several generators in one restorer: each face goes to the model its size suits."""

import numpy as np
import pytest

from jfsr.data.synthetic import draw_face
from jfsr.faces import alignment
from jfsr.faces.detection import FoundFace
from jfsr.faces.tracking import OutputSmoother
from jfsr.restoration.restorer import Restorer, SizedGenerator, choose_upscale
from jfsr.restoration.summary import Summary, describe_faces


def constant_generator(hr_size, value, calls):
  """A stand-in generator whose every output pixel is ``value``; it notes the inputs' side."""
  def generate(inputs):
    calls.append(inputs.shape[1])
    return np.full((len(inputs), hr_size, hr_size, 3), value, np.uint8)
  return generate


@pytest.fixture
def two_model_restorer(smoke_config):
  calls = []
  small = smoke_config.copy_and_resolve_references()
  small.data.lr_size, small.data.hr_size = 16, 128
  large = smoke_config.copy_and_resolve_references()
  large.data.lr_size, large.data.hr_size = 32, 256
  restorer = Restorer(small, None, 5, generate=constant_generator(128, 40, calls), name='x16',
                      others=[SizedGenerator(large, 7, 'x32', constant_generator(256, 220, calls))],
                      batch_size=4, alignments=1, flip_average=False, back_projection_iterations=0)
  return restorer, calls


def face_of(side, x=0.0, y=0.0):
  """A face whose aligned crop is ``side`` frame pixels, its top-left corner at (x, y)."""
  landmarks = alignment.template_points(side) + [x, y]
  return FoundFace((x, y, x + side, y + side), 1.0, landmarks, 'test')


# Faces by their aligned crop's side: the generator nearest on a log scale (the boundary is
# sqrt(16 * 32) = 22.6 px), restored up to 1.5x the chosen input (48 px for the 32-px model).
SIDES = {10: ('x16', True), 16: ('x16', True), 22: ('x16', True), 23: ('x32', True),
         32: ('x32', True), 40: ('x32', True), 47: ('x32', True), 60: ('x32', False)}


@pytest.mark.parametrize('side', sorted(SIDES))
def test_each_face_size_reaches_the_model_it_suits(two_model_restorer, side):
  restorer, calls = two_model_restorer
  name, restored = SIDES[side]
  plan = restorer.plan(face_of(side))
  assert restorer.model_names()[plan.generator] == name and plan.restored == restored
  assert plan.side == pytest.approx(side)
  # Its transform goes to that model's input: the template at the model's input size.
  lr = restorer.generators[plan.generator].lr_size
  np.testing.assert_allclose(alignment.apply_transform(plan.to_model, face_of(side).landmarks),
                             alignment.template_points(lr), atol=1e-6)


def test_a_frame_with_faces_of_both_sizes_restores_each_with_its_model(two_model_restorer):
  restorer, calls = two_model_restorer
  frame = np.full((120, 200, 3), 128, np.uint8)
  faces = [face_of(14, 5, 5), face_of(30, 60, 10), face_of(20, 120, 60), face_of(80, 110, 20)]
  result = restorer.restore_frame(frame, found=faces)
  assert [f.generator for f in result.faces] == [0, 1, 0, 1]
  assert [f.restored for f in result.faces] == [True, True, True, False]
  assert sorted(calls) == [16, 32]  # one batch per model
  assert [None if f.output is None else f.output.shape[0] for f in result.faces] == [
      128, 256, 128, None]
  # Each model's output is pasted where its face is (centre of the face, x8 enlarged).
  assert result.scale == 8
  centre = lambda f: result.image[int(4 * (f.box[1] + f.box[3])), int(4 * (f.box[0] + f.box[2]))]
  assert (centre(faces[0]) == 40).all() and (centre(faces[1]) == 220).all()
  assert (centre(faces[3]) == 128).all()  # left as it was
  summary = Summary()
  summary.add(result, restorer.model_names())
  assert summary.restored_by == {'x16': 2, 'x32': 1}
  assert 'faces restored 3 (2 by x16, 1 by x32)' in summary.line()
  assert describe_faces(result, restorer.model_names()).startswith(
      'restored by x16 (14 px), restored by x32 (30 px), restored by x16 (20 px), left as it was')


def test_the_enlargement_follows_each_faces_own_model():
  assert choose_upscale([16, 32], [128, 256], 8) == 8  # both at their model's input size
  assert choose_upscale([32], [256], 8) == 8 and choose_upscale([40], [256], 8) == 6
  assert choose_upscale([40, 40, 20], [256, 256, 128], 8) == 6  # median of 6.4, 6.4, 6.4
  # One model: hr / median(sides), as before.
  assert choose_upscale([16, 24], 128, 8) == round(128 / 20)


def test_a_track_whose_model_changes_restarts_its_average():
  smoother = OutputSmoother(0.5)
  face = FoundFace((0, 0, 1, 1), 1.0, np.zeros((5, 2)), 'test', track=3)
  smoother.update([face], [np.full((128, 128, 3), 100, np.uint8)])
  switched = smoother.update([face], [np.full((256, 256, 3), 200, np.uint8)])[0]
  assert switched.shape == (256, 256, 3) and (switched == 200).all()
  averaged = smoother.update([face], [np.full((256, 256, 3), 100, np.uint8)])[0]
  assert (averaged == 150).all()


def test_generators_must_differ_in_size_and_agree_on_colour(smoke_config):
  other = SizedGenerator(smoke_config, 1, 'same', lambda x: x)
  with pytest.raises(ValueError, match='one per size'):
    Restorer(smoke_config, None, generate=lambda x: x, others=[other])
  gray = smoke_config.copy_and_resolve_references()
  gray.data.grayscale_input, gray.data.lr_size, gray.data.hr_size = True, 8, 64
  with pytest.raises(ValueError, match='grayscale'):
    Restorer(smoke_config, None, generate=lambda x: x,
             others=[SizedGenerator(gray, 1, 'gray', lambda x: x)])


def test_the_benchmark_draws_faces_between_the_size_edges():
  from jfsr.measures import in_frames, scenes
  truth, _ = draw_face(0, 256)
  sides = [scenes.face_side(scenes.make_scene(truth, 32, 8, (0, 10),
                                                    np.random.default_rng(seed), sides=(12, 48)),
                               256) for seed in range(40)]
  assert 12 <= min(sides) < 18 and 42 < max(sides) < 48
  # Without edges, the model's own range (0.75-1.5 x its input): the same scenes as 12-24 px.
  small, _ = draw_face(0, 128)
  default = scenes.make_scene(small, 16, 8, (0, 10), np.random.default_rng(3))
  explicit = scenes.make_scene(small, 16, 8, (0, 10), np.random.default_rng(3), sides=(12, 24))
  np.testing.assert_array_equal(default.frame, explicit.frame)
  assert in_frames.valid_edges(['12', '24', '48']) and in_frames.valid_edges(None)
  assert not any(in_frames.valid_edges(e) for e in (['12'], ['24', '12'], ['0', '8'], ['a', '9']))


class GrowingFaceDetector:
  """A stand-in detector: one face per frame, its aligned crop growing from 14 to 38 px
  (so its track crosses from the 16-px model to the 32-px one mid-video)."""
  kind = 'test'

  def __init__(self):
    self.frames_seen = 0

  def detect(self, frames, upright_first=False):
    del upright_first  # one pass: nothing to prefer
    found = []
    for _ in frames:
      side = 14 + 4 * self.frames_seen
      self.frames_seen += 1
      found.append([face_of(side, 20, 10)])
    return found


def test_a_video_whose_face_grows_changes_model_mid_track(two_model_restorer, tmp_path):
  import cv2
  from jfsr.restoration import video
  restorer, _ = two_model_restorer
  restorer = restorer.with_detector(GrowingFaceDetector())
  path = tmp_path / 'clip.mp4'
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10, (80, 64))
  for _ in range(7):
    writer.write(np.full((64, 80, 3), 128, np.uint8))
  writer.release()
  summary = Summary()
  wrote = video.restore_video(restorer, path, tmp_path / 'out.mp4', summary, smoothing=0.0,
                              output_smoothing=0.5, frames_per_chunk=3, upscale=2)
  assert wrote.scale == 2 and (tmp_path / 'out.mp4').is_file()
  # 14, 18, 22 px: the 16-px model; 26, 30, 34, 38 px: the 32-px one.
  assert summary.processed == 7 and summary.restored_by == {'x16': 3, 'x32': 4}
