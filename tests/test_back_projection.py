"""Back-projection of restored faces onto their frame, against a whole-frame reference."""

import cv2
import numpy as np
import pytest
from PIL import Image

from jfsr.faces import alignment, blend
from jfsr.restoration import back_projection

SIZE, SCALE = 32, 4


def shrink_reference(image, scale):
  """PIL's antialiased bicubic, channel by channel (what the training's shrink is)."""
  height, width = image.shape[:2]
  return np.stack([np.asarray(Image.fromarray(image[..., c], mode='F').resize(
      (width // scale, height // scale), Image.Resampling.BICUBIC)) for c in range(3)], -1)


def whole_frame_reference(enlarged, frame, scale, weight, iterations):
  """Back-projection written out over the whole frame, weights everywhere (no boxes)."""
  result = enlarged.astype(np.float32)
  for _ in range(iterations):
    difference = frame.astype(np.float32) - shrink_reference(result, scale)
    up = cv2.resize(difference, (result.shape[1], result.shape[0]),
                    interpolation=cv2.INTER_CUBIC)
    result = result + weight[..., None] * up
  rounded = np.clip(result + 0.5, 0, 255).astype(np.uint8)
  return np.where(weight[..., None] > 0, rounded, enlarged)


def scene(rotation=20.0, centre=(30.0, 26.0), frame_shape=(48, 64)):
  """A random frame, its bicubic enlargement with a flat grey 'face' pasted in at a roll,
  and the paste's frame -> face map."""
  rng = np.random.default_rng(0)
  frame = cv2.GaussianBlur(rng.integers(0, 256, (*frame_shape, 3), dtype=np.uint8), (0, 0), 1)
  enlarged = cv2.resize(frame, (frame_shape[1] * SCALE, frame_shape[0] * SCALE),
                        interpolation=cv2.INTER_CUBIC)
  side = 18 * SCALE  # the face's square, in enlarged pixels
  a, b = side / SIZE * np.cos(np.radians(rotation)), side / SIZE * np.sin(np.radians(rotation))
  linear = np.array([[a, -b], [b, a]])
  face_to_enlarged = np.concatenate(
      [linear, (np.asarray(centre) * SCALE - linear @ [SIZE / 2, SIZE / 2])[:, None]], 1)
  frame_to_face = alignment.invert(face_to_enlarged)
  blend.paste(enlarged, np.full((SIZE, SIZE, 3), 128, np.uint8), frame_to_face)
  return frame, enlarged, frame_to_face


def test_the_face_box_gives_what_the_whole_frame_would():
  frame, enlarged, frame_to_face = scene()
  square = blend.footprint(enlarged.shape, SIZE, frame_to_face, blend.square_mask(SIZE, 0.1))
  weight = np.zeros(enlarged.shape[:2], np.float32)
  weight[square.y0:square.y1, square.x0:square.x1] = square.alpha
  expected = whole_frame_reference(enlarged, frame, SCALE, weight, 3)
  result = enlarged.copy()
  back_projection.back_project(result, frame, SCALE, square, 3)
  assert np.abs(result.astype(int) - expected).max() <= 1
  assert (result != enlarged).any(-1)[weight > 0.999].mean() > 0.9  # it did something


def test_outside_the_square_nothing_changes_and_inside_the_result_agrees_with_the_frame():
  frame, enlarged, frame_to_face = scene(rotation=0.0)
  square = blend.footprint(enlarged.shape, SIZE, frame_to_face, blend.square_mask(SIZE, 0.1))
  result = enlarged.copy()
  back_projection.back_project(result, frame, SCALE, square, 20)
  weight = np.zeros(enlarged.shape[:2], np.float32)
  weight[square.y0:square.y1, square.x0:square.x1] = square.alpha
  np.testing.assert_array_equal(result[weight == 0], enlarged[weight == 0])  # bit for bit
  # Frame pixels whose whole shrink support (2 frame pixels each way) lies under weight 1.
  full = weight.reshape(frame.shape[0], SCALE, frame.shape[1], SCALE).min((1, 3)) > 0.999
  inner = cv2.erode(full.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
  assert inner.sum() >= 100
  before = np.abs(shrink_reference(enlarged.astype(np.float32), SCALE) - frame)[inner].mean()
  after = np.abs(shrink_reference(result.astype(np.float32), SCALE) - frame)[inner].mean()
  assert before > 10 and after < 1.0  # the grey patch was far off; now it shrinks to the frame


@pytest.mark.parametrize('iterations, scale', [(0, SCALE), (3, 1)])
def test_no_iterations_or_no_enlargement_leaves_the_paste_alone(iterations, scale):
  frame, enlarged, frame_to_face = scene()
  if scale == 1:
    enlarged = frame.copy()
    frame_to_face = alignment.compose(frame_to_face, alignment.pixel_scale(SCALE))
  square = blend.footprint(enlarged.shape, SIZE, frame_to_face, blend.square_mask(SIZE, 0.1))
  result = enlarged.copy()
  back_projection.back_project(result, frame, scale, square, iterations)
  np.testing.assert_array_equal(result, enlarged)


def test_square_mask_is_one_inside_and_falls_to_zero_at_the_edge():
  mask = blend.square_mask(40, 0.1)  # the fall spans the outer 2 pixels of each edge
  assert (mask[2:-2, 2:-2] == 1).all()
  assert mask[0].max() < 0.5 and mask[:, 0].max() < 0.5 and mask.min() > 0
  np.testing.assert_array_equal(mask, mask.T)
  np.testing.assert_array_equal(mask, mask[::-1, ::-1])


def test_restorer_back_projects_only_around_restored_faces():
  """A generator that paints every face flat grey: back-projected, the frame shrinks back to
  the input around the face; pixels away from it stay the bicubic enlargement's."""
  from jfsr.config_defaults import base_config
  from jfsr.measures.scenes import true_face, render_scene, face_placement
  from jfsr.restoration.restorer import Restorer, enlarge
  config = base_config()
  config.data.hr_size, config.data.lr_size = 64, 8
  grey = lambda inputs: np.full((len(inputs), 64, 64, 3), 128, np.uint8)
  rng = np.random.default_rng(1)
  truth = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
  background = np.full((256, 256, 3), 60, np.uint8)
  placed = render_scene(truth, background, face_placement(64, 1.0, 10.0, (128, 128)), 3, 30, 8, 8)
  results = {}
  for iterations in (0, 3):
    restorer = Restorer(config, None, generate=grey, back_projection_iterations=iterations)
    results[iterations] = restorer.restore_frame(placed.frame, [true_face(placed, 64)],
                                             upscale=8, force=True).image
  far = np.zeros(results[0].shape[:2], bool)
  far[:40], far[-40:], far[:, :40], far[:, -40:] = True, True, True, True
  bicubic = enlarge(placed.frame, 8)
  for iterations in (0, 3):
    np.testing.assert_array_equal(results[iterations][far], bicubic[far])
  errors = {r: np.abs(shrink_reference(image.astype(np.float32), 8) - placed.frame)[12:20, 12:20]
            .mean() for r, image in results.items()}
  assert errors[3] < errors[0] / 3



def test_video_frames_take_the_video_iterations():
  """``restore_frames(video=True)`` back-projects ``video_back_projection_iterations`` times."""
  from jfsr.config_defaults import base_config
  from jfsr.measures.scenes import true_face, render_scene, face_placement
  from jfsr.restoration.restorer import Restorer
  config = base_config()
  config.data.hr_size, config.data.lr_size = 64, 8
  grey = lambda inputs: np.full((len(inputs), 64, 64, 3), 128, np.uint8)
  truth = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
  scene = render_scene(truth, np.full((256, 256, 3), 60, np.uint8),
                       face_placement(64, 1.0, 5.0, (120, 130)), 3, 30, 8, 8)
  found = [true_face(scene, 64)]

  def restored(iterations, video_iterations, video):
    restorer = Restorer(config, None, generate=grey, back_projection_iterations=iterations,
                        video_back_projection_iterations=video_iterations)
    return restorer.restore_frames([scene.frame], [found], upscale=8, force=True,
                                   video=video)[0].image

  np.testing.assert_array_equal(restored(3, 1, True), restored(1, 3, False))
  np.testing.assert_array_equal(restored(3, 1, False), restored(1, 3, True))
  assert (restored(3, 1, True) != restored(3, 1, False)).any()


def test_a_face_across_the_frames_corner_is_restored_without_a_seam_elsewhere():
  """Half the face's square lies outside the frame: the back-projection box is cut at the
  frame's edges, and the rest of the frame stays the enlargement's."""
  from jfsr.config_defaults import base_config
  from jfsr.faces.detection import FoundFace
  from jfsr.restoration.restorer import Restorer, enlarge
  config = base_config()
  config.data.hr_size, config.data.lr_size = 64, 8
  grey = lambda inputs: np.full((len(inputs), 64, 64, 3), 128, np.uint8)
  frame = np.random.default_rng(7).integers(0, 256, (20, 30, 3), dtype=np.uint8)
  # The template's landmarks for an 8-px face centred on the frame's top-left corner.
  landmarks = alignment.template_points(8) - 4.0
  face = FoundFace((-4, -4, 4, 4), 1.0, landmarks, 'given')
  result = Restorer(config, None, generate=grey).restore_frame(frame, [face], upscale=8,
                                                              force=True)
  assert result.image.shape == (160, 240, 3) and result.faces[0].restored
  bicubic = enlarge(frame, 8)
  assert (result.image[:24, :24] != bicubic[:24, :24]).any()
  np.testing.assert_array_equal(result.image[48:], bicubic[48:])
  np.testing.assert_array_equal(result.image[:, 48:], bicubic[:, 48:])
