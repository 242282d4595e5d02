"""Face-recognition accuracy after the paper's Table 2: do restored faces keep their identity?

Every image (restored, bicubic, ground truth) goes through the same recognition
pipeline. MTCNN (``jfsr.faces.mtcnn``, facenet-pytorch's weights) finds the largest face
and its five landmarks, and a similarity transform warps it onto a measured
template in a 160x160 crop (``jfsr.faces.alignment``: MTCNN's box framing, the
face's roll removed), as the paper's "MTCNN detection and alignment" does; with
OpenCV's Haar cascade (``jfsr.faces``, no landmarks) the detector's square is cut
out and resized instead. FaceNet (``jfsr.models.facenet``, MS-Celeb-1M weights)
embeds the crop; embeddings are L2-normalised. The ground-truth faces form the
gallery; for each test face the restored face is the probe, and with ``d`` the
distance between unit embeddings (``'euclidean'``, the distance FaceNet's
verification thresholds, by default; ``'l1'``, the paper's wording, as an option):

* ``id_distance``: ``d`` between a probe and its own ground truth (mean);
* ``id_similarity``: their cosine similarity (mean);
* ``id_rank1``: share of probes whose nearest gallery face (by ``d``) is their own;
* ``id_acc_d60`` / ``id_acc_d70`` / ``id_acc_d80``: share of probes accepted as
  their own identity, **distance below** 0.6 / 0.7 / 0.8. A larger limit accepts
  more, so these rise with the threshold, as Table 2's do;
* ``id_missed``: probes in which the detector found no face.

A probe without a detected face counts as a failure in the accuracies and
rank-1 (it is not dropped) and is left out of the two means. A test face whose
ground truth has no detected face cannot be judged: it leaves the gallery and
every method's figures, and ``gallery_missed`` says how many did.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

from jfsr import faces as face_detection
from jfsr.faces import alignment
from jfsr.models import facenet

THRESHOLDS = (0.6, 0.7, 0.8)  # limits on the embedding distance: accept when below
DISTANCES = ('euclidean', 'l1')
METRICS = ('id_distance', 'id_similarity', 'id_rank1',
           *(f'id_acc_d{round(t * 100)}' for t in THRESHOLDS), 'id_missed')


# A face finder: (image, smallest face side in pixels) -> the largest face's pixels, or None.
FaceFinder = Callable[[np.ndarray, int], 'np.ndarray | None']


def haar_face(image: np.ndarray, min_size: int) -> np.ndarray | None:
  """The largest Haar-cascade box, made square (edge-replicated past the border)."""
  detections = face_detection.detect(image, min_size=min_size, margin=0.0)
  return face_detection.crop(image, detections[0]) if detections else None


def mtcnn_face_finder(variables: dict | None = None) -> FaceFinder:
  """MTCNN's largest face, aligned by its five landmarks onto
  :data:`jfsr.faces.alignment.FACENET_TEMPLATE` in a 160x160 crop; ``variables``
  default to the cached facenet-pytorch weights."""
  from jfsr.faces.mtcnn import MTCNN
  from jfsr.pretrained import mtcnn_weights
  detector = MTCNN(variables or mtcnn_weights.load_mtcnn())

  def find(image: np.ndarray, min_size: int) -> np.ndarray | None:
    detections = detector.detect(image, min_size=min_size)
    if not detections:
      return None
    return alignment.align(image, detections[0].landmarks)
  return find


def crop_box(image: np.ndarray, box) -> np.ndarray | None:
  """``image[y1:y2, x1:x2]`` of a float box, corners truncated and clipped to the image."""
  h, w = image.shape[:2]
  x1, y1 = int(max(box[0], 0)), int(max(box[1], 0))
  x2, y2 = int(min(box[2], w)), int(min(box[3], h))
  return image[y1:y2, x1:x2] if x2 > x1 and y2 > y1 else None


def face_finder(name: str) -> FaceFinder:
  """``'mtcnn'`` or ``'haar'``."""
  if name == 'mtcnn':
    return mtcnn_face_finder()
  if name == 'haar':
    return haar_face
  raise ValueError(f'unknown face detector {name!r}: mtcnn or haar')


def face_crops(images_uint8: np.ndarray, find: FaceFinder = haar_face,
               min_size_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
  """``(n, h, w, 3)`` uint8 images -> ``((n, 160, 160, 3)`` uint8 face crops, ``(n,)`` found).

  An image without a face (none at least ``min_size_fraction`` of its shorter
  side) gets a black crop and ``found = False``.
  """
  size = facenet.INPUT_SIZE
  crops = np.zeros((len(images_uint8), size, size, 3), np.uint8)
  found = np.zeros(len(images_uint8), bool)
  for i, image in enumerate(np.asarray(images_uint8)):
    face = find(image, max(16, int(min(image.shape[:2]) * min_size_fraction)))
    if face is not None:
      crops[i] = np.asarray(Image.fromarray(face).resize((size, size), Image.Resampling.BICUBIC))
      found[i] = True
  return crops, found


def embed(network: facenet.InceptionResnetV1, variables: dict, crops_uint8):
  """Face crops -> L2-normalised 128-d embeddings (traceable; jit it)."""
  import jax.numpy as jnp
  embedding = network.apply(variables, facenet.standardize(jnp.asarray(crops_uint8)))
  return embedding / jnp.maximum(jnp.linalg.norm(embedding, axis=-1, keepdims=True), 1e-12)


def jitted_embed(network: facenet.InceptionResnetV1, variables: dict):
  """:func:`embed` compiled, ``crops -> embeddings``, the weights an argument
  (:func:`jfsr.models.jit_with_weights`)."""
  import functools
  from jfsr.models import jit_with_weights
  return jit_with_weights(functools.partial(embed, network), variables)


def pairwise_distances(probe: np.ndarray, gallery: np.ndarray, distance: str) -> np.ndarray:
  """``(n_probe, n_gallery)`` distances between unit embeddings."""
  difference = probe[:, None, :] - gallery[None, :, :]
  if distance == 'euclidean':
    return np.sqrt(np.square(difference).sum(-1))
  if distance == 'l1':
    return np.abs(difference).sum(-1)
  raise ValueError(f'eval.identity_distance must be one of {DISTANCES}, got {distance!r}')


def identity_scores(probe: np.ndarray, probe_found: np.ndarray, gallery: np.ndarray,
                    gallery_found: np.ndarray, distance: str = 'euclidean') -> dict[str, float]:
  """The metrics above from unit embeddings ``(n, d)`` and detection flags ``(n,)``."""
  keep = np.asarray(gallery_found, bool)
  probe, found = np.asarray(probe, np.float64)[keep], np.asarray(probe_found, bool)[keep]
  gallery = np.asarray(gallery, np.float64)[keep]
  n = len(gallery)
  if n == 0:
    nan = float('nan')
    return {**{name: nan for name in METRICS}, 'id_missed': 0.0}
  to_gallery = pairwise_distances(probe, gallery, distance)  # (probe, gallery)
  own = np.arange(n)
  own_distance = to_gallery[own, own]
  rank1 = found & (np.argmin(to_gallery, axis=1) == own)
  scores = {
      'id_distance': float(own_distance[found].mean()) if found.any() else float('nan'),
      'id_similarity': (float(np.sum(probe * gallery, axis=1)[found].mean()) if found.any()
                        else float('nan')),
      'id_rank1': float(rank1.mean()),
  }
  for threshold in THRESHOLDS:
    scores[f'id_acc_d{round(threshold * 100)}'] = float((found & (own_distance < threshold)).mean())
  scores['id_missed'] = float(n - found.sum())
  return scores
