r"""The figures ``tests/test_shipped.py`` checks a shipped model by: its output on a fixed input.

    python tools/golden_output.py --model jfsr/pretrained/models/NAME.npz

Restores :func:`jfsr.pretrained.generators.golden_input` (a fixed RGB gradient at the
model's input size) on the CPU and prints the output's mean colour and two of its pixels,
to paste into the model's entry in ``tests/test_shipped.py`` after ``python -m
jfsr.pretrained pack``.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model', required=True, help='a shipped NAME or a packed .npz')
  args = parser.parse_args()
  import jax
  from jfsr.pretrained import generators
  from jfsr.restoration import Restorer
  restorer = Restorer.from_pretrained(args.model, device=jax.devices('cpu')[0],
                                      flip_average=False)  # the generator's own output
  out = restorer.restore_crops([generators.golden_input(restorer.lr_size)])[0]
  side = restorer.hr_size
  centre, corner = out[side // 2, side // 2], out[side // 8, side * 3 // 4]
  print(f'mean {np.round(out.reshape(-1, 3).mean(0), 3).tolist()}, centre {centre.tolist()}, '
        f'at (1/8, 3/4) {corner.tolist()}')


if __name__ == '__main__':
  main()
