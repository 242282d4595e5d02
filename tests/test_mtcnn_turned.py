"""MTCNN's second look at rejected boxes on turned crops, against independent references:
an exact 90° turn of the image (no resampling), the networks run on each angle's crops one
at a time, and the mirror images scored on their own."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from jfsr.faces import detection
from jfsr.faces.mtcnn import MTCNN, rotations
from jfsr.pretrained import mtcnn_weights

FIXTURES = Path(__file__).parent / 'fixtures'


@pytest.fixture(scope='module')
def weights():
  sys.path.insert(0, str(FIXTURES))
  import make_mtcnn_fixture
  return ({name: mtcnn_weights.convert(state, name)
           for name, state in make_mtcnn_fixture.random_state_dicts().items()},
          make_mtcnn_fixture.test_image())


def _turned_by_90(image: np.ndarray, centre: np.ndarray, sign: int):
  """``image`` turned by ``sign`` x 90° about pixel ``centre`` (exact: nearest pixels of an
  integer map), and the 2x3 map from the image's pixels to the turned one's."""
  turn = rotations([90.0 * sign])[0]
  forward = np.concatenate([turn, (centre - turn @ centre)[:, None]], axis=1)
  size = image.shape[1], image.shape[0]
  return cv2.warpAffine(image, forward, size, flags=cv2.INTER_NEAREST), forward


@pytest.mark.parametrize('sign', [1, -1])
@pytest.mark.parametrize('stage', ['rnet', 'onet'])
def test_a_turned_look_reads_the_face_as_the_upright_look_reads_it_unturned(weights, sign, stage):
  """A box looked at turned 90° in an image turned 90° sees exactly the upright crop of the
  unturned image, so its score is the same and its box (and O-Net's landmarks), turned
  back, are the upright look's."""
  variables, image = weights
  image = np.ascontiguousarray(image[:, :72])  # square, so that the turn keeps it whole
  detector = MTCNN(variables, thresholds=(0.0, 0.0, 0.0))
  centre = np.array([35.0, 36.0])  # a pixel centre; boxes of odd side 21 centred on it
  box = np.array([[26.0, 27.0, 46.0, 47.0, 1.0, 0.0]])  # centre (x1 + x2) / 2 - 1
  turned_image, forward = _turned_by_90(image, centre, sign)
  turned_box = box.copy()
  turned_box[0, 5] = 90.0 * sign
  step = detector._refine if stage == 'rnet' else (lambda p, b: detector._output(p, b)[0])
  (upright,), (turned,) = step(image[None], [box]), step(turned_image[None], [turned_box])
  assert len(upright) == len(turned) == 1
  np.testing.assert_allclose(turned[0, 4], upright[0, 4], atol=1e-6)
  centres = lambda b: (b[:, :2] + b[:, 2:4]) / 2 - 1
  np.testing.assert_allclose(centres(turned), centres(upright) @ forward[:, :2].T + forward[:, 2],
                             atol=1e-4)
  np.testing.assert_allclose(turned[0, 2] - turned[0, 0], upright[0, 2] - upright[0, 0], atol=1e-4)
  if stage == 'onet':
    (_,), (upright_points,) = detector._output(image[None], [box])
    (_,), (turned_points,) = detector._output(turned_image[None], [turned_box])
    np.testing.assert_allclose(turned_points, upright_points @ forward[:, :2].T + forward[:, 2],
                               atol=1e-4)


@pytest.mark.parametrize('shrinks', [(), (0.8,)])
def test_rejected_boxes_keep_their_best_look_and_passing_boxes_their_own(weights, shrinks):
  """The second look against each view's scores computed one view at a time: a box scored
  above the threshold as it stands keeps that look; a rejected one takes the view (0, +25
  or -25 degrees, each at full size and shrunk by ``shrinks``) that scores it highest, when
  that beats its own, with that view's corners and angle."""
  variables, image = weights
  detector = MTCNN(variables, turns=(25.0,))
  rng = np.random.default_rng(3)
  corners = rng.uniform(0, 45, (40, 2))
  sides = rng.uniform(12, 25, (40, 1))
  boxes = np.concatenate([corners, corners + sides, np.ones((40, 1)), np.zeros((40, 1))], 1)
  views = [(angle, scale) for angle in (0.0, 25.0, -25.0) for scale in (1.0, *shrinks)]

  def viewed(angle, scale):
    at = boxes.copy()
    centres, halves = (at[:, :2] + at[:, 2:4]) / 2, (at[:, 2:4] - at[:, :2]) / 2
    at[:, :2], at[:, 2:4], at[:, 5] = centres - scale * halves, centres + scale * halves, angle
    return at

  def score(at):
    batch, _ = detector._crops(image[None], [at], 48)
    return np.asarray(detector._onet(batch)[0])[:len(at)]

  by_view = np.stack([score(viewed(*view)) for view in views], axis=1)
  upright = by_view[:, 0]
  threshold = float(np.median(upright))  # half of the boxes pass upright, half do not
  looked, (outputs,) = detector._look(image[None], [boxes], 48, detector._onet, threshold,
                                      shrinks=shrinks)
  (looked,) = looked
  passed = upright > threshold
  np.testing.assert_allclose(outputs[0][passed], upright[passed], atol=1e-6)
  np.testing.assert_array_equal(looked[passed], boxes[passed])
  best = by_view.argmax(axis=1)
  np.testing.assert_allclose(outputs[0][~passed], by_view[~passed].max(axis=1), atol=1e-6)
  expected = np.stack([viewed(*views[v])[i] for i, v in enumerate(best)])
  np.testing.assert_allclose(looked[~passed], expected[~passed], atol=1e-9)
  assert (looked[~passed, 5] != 0).any()
  if shrinks:
    assert (best[~passed] % 2 == 1).any()  # some rejected boxes are kept shrunk


def test_mirrored_scores_are_the_mean_of_the_crop_and_its_mirror_image(weights):
  variables, image = weights
  detector = MTCNN(variables)
  boxes = np.array([[5.0, 6.0, 30.0, 31.0, 1.0, 0.0], [20.0, 10.0, 60.0, 50.0, 1.0, 0.0]])
  batch, _ = detector._crops(image[None], [boxes], 48)
  own = np.asarray(detector._onet(batch)[0])
  mirror = np.asarray(detector._onet(np.ascontiguousarray(batch[:, :, ::-1]))[0])
  probability, offsets, points = detector._scores(detector._onet, batch, mirrored=True)
  np.testing.assert_allclose(probability, (own + mirror) / 2, atol=1e-6)
  np.testing.assert_allclose(offsets, np.asarray(detector._onet(batch)[1]), atol=1e-6)


def test_twin_detections_of_one_face_are_kept_once():
  """Two detections whose boxes overlap little but whose landmarks' centres lie within half
  a box of each other are one face (the better-scored kept); faces a box apart stay two."""
  def face(box, centre, score):
    points = detection.landmarks_from_box(0.0, 0.0, 2 * (box[2] - box[0]))
    return detection.FoundFace(box, score, points - points.mean(0) + centre, 'mtcnn')
  # landmarks 3.3 px apart, boxes overlapping by 0.28 of the smaller one
  twins = [face((69.9, 15.2, 78.8, 28.2), (75.5, 22.4), 0.96),
           face((75.5, 18.3, 86.0, 30.8), (78.4, 23.9), 0.72)]
  kept = detection._merge(twins)
  assert len(kept) == 1 and kept[0].score == 0.96
  neighbours = [face((10.0, 10.0, 20.0, 20.0), (15.0, 16.0), 0.9),
                face((22.0, 10.0, 32.0, 20.0), (27.0, 16.0), 0.8)]
  assert len(detection._merge(neighbours)) == 2


def test_doubtful_boxes_come_too_and_leave_the_passing_ones_as_they_were(weights):
  """With ``doubtful``, O-Net's last stage also returns the boxes it scores between that
  and its threshold: the passing boxes and landmarks are those of the cascade without it,
  and the added ones are exactly the boxes scored in between that NMS keeps."""
  variables, image = weights
  rng = np.random.default_rng(5)
  corners = rng.uniform(0, 45, (40, 2))
  boxes = np.concatenate([corners, corners + rng.uniform(12, 25, (40, 1)), np.ones((40, 1)),
                          np.zeros((40, 1))], 1)
  detector = MTCNN(variables)
  scores = np.asarray(detector._onet(detector._crops(image[None], [boxes], 48)[0])[0])[:40]
  threshold, doubtful = np.quantile(scores, [0.7, 0.3])
  plain = MTCNN(variables, thresholds=(0.0, 0.0, threshold))
  both = MTCNN(variables, thresholds=(0.0, 0.0, threshold), doubtful=doubtful)
  (passed,), (passed_points,) = plain._output(image[None], [boxes])
  (every,), (every_points,) = both._output(image[None], [boxes])
  above = every[:, 4] > threshold
  assert above.any() and not above.all()
  np.testing.assert_array_equal(every[above], passed)
  np.testing.assert_array_equal(every_points[above], passed_points)
  assert ((every[~above, 4] > doubtful) & (every[~above, 4] <= threshold)).all()
  low = MTCNN(variables, thresholds=(0.0, 0.0, doubtful))  # the same boxes, all passing
  (reference,), _ = low._output(image[None], [boxes])
  np.testing.assert_array_equal(every, reference)
