"""Writes a frame of small drawn faces (no real faces), tilted and scattered, for the docs figure.

    python docs/drawn_scene.py scene.png
    python -m jfsr.restore --model cpu-x16 --input scene.png --output out --compare
"""

import sys

import cv2
import numpy as np

from jfsr.data.synthetic import draw_face

rng = np.random.default_rng(3)
frame = cv2.GaussianBlur(rng.integers(0, 256, (72, 160, 3), dtype=np.uint8), (0, 0), 2)
frame = (0.5 * frame + 0.5 * np.linspace(60, 200, 160)[None, :, None]).astype(np.uint8)
for index, (x, y, angle, side) in enumerate([(28, 34, -25, 26), (80, 36, 0, 24),
                                             (132, 34, 20, 25)]):
  face = draw_face(index + 4, 96)[0]
  matrix = cv2.getRotationMatrix2D((47.5, 47.5), angle, side / 96)
  matrix[:, 2] += [x - 47.5, y - 47.5]
  inside = cv2.warpAffine(np.ones((96, 96), np.float32), matrix, (160, 72))[..., None]
  placed = cv2.warpAffine(face, matrix, (160, 72), flags=cv2.INTER_AREA)
  frame = (frame * (1 - inside) + placed * inside).astype(np.uint8)
cv2.imwrite(sys.argv[1], cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
