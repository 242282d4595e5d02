"""The installed package stands alone: a wheel, installed away from the checkout, restores a
face with its shipped model (nothing read from the repository's configs/ or tests/)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from jfsr.data.synthetic import draw_face

REPO = Path(__file__).resolve().parent.parent


def test_a_wheel_installed_elsewhere_restores_with_its_shipped_model(tmp_path):
  wheels, site, work = tmp_path / 'wheels', tmp_path / 'site', tmp_path / 'elsewhere'
  work.mkdir()
  # Built from a copy of what the wheel is made of, so that no build/ folder is left in the
  # checkout (nor a stale one read from it).
  source = tmp_path / 'source'
  shutil.copytree(REPO / 'jfsr', source / 'jfsr',
                  ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
  for name in ('pyproject.toml', 'README.md'):
    shutil.copy(REPO / name, source / name)
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                  '-q', '-w', str(wheels), str(source)], check=True, capture_output=True,
                 timeout=600, cwd=tmp_path)
  (wheel,) = wheels.glob('jfsr-*.whl')
  subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
                  str(site), str(wheel)], check=True, capture_output=True, timeout=600)
  face, _ = draw_face(0, 64)
  Image.fromarray(face).save(work / 'face.png')

  # The checkout must be out of reach: only the installed copy (and the environment's
  # dependencies) on the path, run from a folder with no configs/ beside it.
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['PYTHONPATH'] = str(site)
  where = subprocess.run([sys.executable, '-c', 'import jfsr; print(jfsr.__file__)'], cwd=work,
                         env=env, capture_output=True, text=True, check=True)
  assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
  result = subprocess.run(
      [sys.executable, '-m', 'jfsr.restore', '--model', 'cpu-x16', '--aligned',
       '--input', 'face.png', '--output', 'out'],
      cwd=work, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  (written,) = (work / 'out').iterdir()
  restored = np.asarray(Image.open(written))
  assert restored.shape == (128, 128, 3)
  assert restored.std() > 10  # a face, not a flat image

  # With no model named, the shipped models by face size: a 32-px crop goes to cpu-x32.
  Image.fromarray(face).resize((32, 32), Image.Resampling.BICUBIC).save(work / 'face32.png')
  result = subprocess.run(
      [sys.executable, '-m', 'jfsr.restore', '--aligned', '--input', 'face32.png', '--output',
       'out32'], cwd=work, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'faces restored 1 (1 by cpu-x32)' in result.stdout
  assert np.asarray(Image.open(work / 'out32' / 'face32.png')).shape == (256, 256, 3)
