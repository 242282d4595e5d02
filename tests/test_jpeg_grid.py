"""What a JPEG file stores, read back for back-projection: its quantization table, where its
blocks lie in the (EXIF-turned) pixels, and the nearest image consistent with it; checked
against the standard's table, a DCT written from its formula and the decoder's own pixels."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from jfsr.data.images import read_rgb
from jfsr.faces import alignment, blend
from jfsr.restoration import back_projection
from jfsr.restoration.jpeg_grid import JpegGrid, encoder_grid, grid_of

LUMA = np.array([0.299, 0.587, 0.114])


def jpeg_dct_matrix() -> np.ndarray:
  """The 8-point DCT of the JPEG standard (ITU T.81, A.3.3), from its formula."""
  c = [np.sqrt(0.5)] + [1.0] * 7
  return np.array([[c[u] / 2 * np.cos((2 * x + 1) * u * np.pi / 16) for x in range(8)]
                   for u in range(8)])


def steps(luma: np.ndarray, table: np.ndarray) -> np.ndarray:
  """Each whole 8x8 block's coefficients in steps of ``table`` (rounded: the file's values)."""
  d = jpeg_dct_matrix()
  h, w = luma.shape[0] // 8 * 8, luma.shape[1] // 8 * 8
  blocks = (luma[:h, :w] - 128).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
  return d @ blocks @ d.T / table


def quantized(luma: np.ndarray, table: np.ndarray) -> np.ndarray:
  return np.round(steps(luma, table))


def photo(shape=(48, 64), seed=0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return cv2.GaussianBlur(rng.integers(0, 256, (*shape, 3), dtype=np.uint8), (0, 0), 1.5)


def saved(image: np.ndarray, quality: int, orientation: int = 1) -> bytes:
  buffer = io.BytesIO()
  exif = Image.Exif()
  exif[0x0112] = orientation
  Image.fromarray(image).save(buffer, 'JPEG', quality=quality, exif=exif.tobytes())
  return buffer.getvalue()


def test_the_table_at_quality_50_is_the_standards_in_natural_order():
  table = encoder_grid(50).table
  np.testing.assert_array_equal(table[0], [16, 11, 10, 16, 24, 40, 51, 61])  # Annex K, K.1
  np.testing.assert_array_equal(table[:, 0], [16, 12, 14, 14, 18, 24, 49, 72])
  assert grid_of(io.BytesIO(saved(photo(), 50))).origin == (0, 0)


def test_not_a_jpeg_has_no_grid(tmp_path):
  Image.fromarray(photo()).save(tmp_path / 'a.png')
  assert grid_of(tmp_path / 'a.png') is None


@pytest.mark.parametrize('quality', [50, 90])
def test_the_correction_brings_an_image_to_what_the_file_stores(quality):
  """The original is consistent with its own file (almost no correction); a blurred copy
  is not, and after the correction its blocks quantize as the file's do."""
  original = photo()
  data = saved(original, quality)
  decoded, grid = read_rgb(io.BytesIO(data)), grid_of(io.BytesIO(data))
  stored = quantized(decoded.astype(float) @ LUMA, grid.table)
  own = grid.luma_correction(original.astype(float), decoded.astype(float), (0, 0), decoded.shape)
  assert np.abs(own).mean() < 0.5
  blurred = cv2.GaussianBlur(original, (0, 0), 2).astype(float)
  change = grid.luma_correction(blurred, decoded.astype(float), (0, 0), decoded.shape)
  assert np.abs(change).mean() > 1.0
  corrected = blurred @ LUMA + change
  assert (quantized(blurred @ LUMA, grid.table) != stored).mean() > 0.05
  assert np.abs(steps(corrected, grid.table) - stored).max() <= 0.5 + 1e-6


@pytest.mark.parametrize('orientation', range(1, 9))
def test_blocks_are_found_in_a_turned_or_flipped_photo(orientation):
  """A 37x29 photo stored with each EXIF orientation, the original turned as the decoder
  turns it: only the grid read from the file finds the original consistent with the file
  (with any other origin, the decoded pixels' blocks are not the file's and disagree)."""
  original = photo((29, 37))
  data = saved(original, 50, orientation)
  decoded = read_rgb(io.BytesIO(data)).astype(float)
  grid = grid_of(io.BytesIO(data))
  buffer = io.BytesIO(saved(original, 100, orientation))  # lossless enough: only turned
  turned = read_rgb(buffer).astype(float)
  assert decoded.shape[:2] == turned.shape[:2] == ((37, 29) if orientation >= 5 else (29, 37))

  def correction(candidate: JpegGrid) -> float:
    return np.abs(candidate.luma_correction(turned, decoded, (0, 0), decoded.shape)).mean()
  assert correction(grid) < 0.5
  others = [JpegGrid(grid.table, (y, x)) for y in range(8) for x in range(8)
            if (y, x) != grid.origin]
  assert min(correction(other) for other in others) > 3 * correction(grid)


def test_back_projection_with_a_grid_works_on_whole_blocks_of_the_luma():
  """A face pasted into a JPEG frame: with the grid, back-projection changes every channel
  alike (luma only), only under the face's weight, and leaves the face closer to what the
  file stores than the paste was; a box off the blocks is refused."""
  frame_shape, scale, size = (48, 64), 4, 32
  data = saved(photo(frame_shape), 75)
  frame, grid = read_rgb(io.BytesIO(data)), grid_of(io.BytesIO(data))
  enlarged = cv2.resize(frame, (frame_shape[1] * scale, frame_shape[0] * scale),
                        interpolation=cv2.INTER_CUBIC)
  face_to_enlarged = np.array([[2.0, 0.0, 70.0], [0.0, 2.0, 50.0]])
  frame_to_face = alignment.invert(face_to_enlarged)
  blend.paste(enlarged, np.full((size, size, 3), 128, np.uint8), frame_to_face)
  square = blend.footprint(enlarged.shape, size, frame_to_face, blend.square_mask(size, 0.1))
  result = enlarged.copy()
  back_projection.back_project(result, frame, scale, square, 3, grid)
  change = result.astype(int) - enlarged
  moved = (change != 0).any(-1)
  assert moved.sum() > 1000
  assert np.abs(change[..., 0] - change[..., 1]).max() <= 1  # the same in every channel
  outside = np.ones(enlarged.shape[:2], bool)
  outside[square.y0:square.y1, square.x0:square.x1] = square.alpha == 0
  assert not moved[outside].any()
  shrunk = lambda image: back_projection.shrink(image.astype(np.float32), scale) @ LUMA
  stored = quantized(frame.astype(float) @ LUMA, grid.table)
  off = lambda image: (quantized(shrunk(image), grid.table) != stored).sum()
  assert off(result) < off(enlarged) / 2
  with pytest.raises(ValueError, match='blocks'):
    grid.luma_correction(frame[3:20, 3:20].astype(float), frame[3:20, 3:20].astype(float),
                         (3, 3), frame.shape)


def test_restore_reads_the_grid_of_a_jpeg_and_back_projects_within_it(tmp_path):
  """``jfsr.restore`` reads a JPEG's grid (a PNG has none), and the restorer given it
  back-projects the luma alone: a flat grey face moves the same in every channel, where
  without the grid it moves each channel towards the frame's own colours."""
  from jfsr import restore as restore_cli
  from jfsr.config_defaults import base_config
  from jfsr.measures.scenes import face_placement, render_scene, true_face
  from jfsr.restoration.restorer import Restorer
  from jfsr.restoration.summary import Summary
  from jfsr.restoration.video import Progress
  rng = np.random.default_rng(1)
  coloured = rng.integers(0, 90, (64, 64, 3)) + [0, 40, 160]  # far from grey, and blue
  placed = render_scene(coloured.astype(np.uint8),
                        np.full((256, 256, 3), 60, np.uint8),
                        face_placement(64, 1.0, 10.0, (128, 128)), 3, 30, 8, 8)
  (tmp_path / 'a.jpg').write_bytes(saved(placed.frame, 75))
  Image.fromarray(placed.frame).save(tmp_path / 'b.png')
  read = restore_cli.read_images([tmp_path / 'a.jpg', tmp_path / 'b.png'], Summary(),
                                 Progress(2, 'images', io.StringIO()), max_output_mp=1)
  (_, frame, grid), (_, _, none) = read
  assert none is None and np.array_equal(grid.table, encoder_grid(75).table)
  config = base_config()
  config.data.hr_size, config.data.lr_size = 64, 8
  grey = lambda inputs: np.full((len(inputs), 64, 64, 3), 128, np.uint8)
  results = {}
  for name, iterations, grids in (('pasted', 0, None), ('decoded', 3, None), ('grid', 3, [grid])):
    restorer = Restorer(config, None, generate=grey, back_projection_iterations=iterations)
    results[name] = restorer.restore_frames([frame], [[true_face(placed, 64)]], upscale=8,
                                            force=True, jpeg_grids=grids)[0].image.astype(int)
  by_grid, by_pixels = results['grid'] - results['pasted'], results['decoded'] - results['pasted']
  assert np.abs(by_grid).max() > 10
  assert np.abs(by_grid[..., 0] - by_grid[..., 2]).max() <= 1
  assert np.abs(by_pixels[..., 0] - by_pixels[..., 2]).max() > 10
