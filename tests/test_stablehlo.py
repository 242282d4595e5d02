"""StableHLO export (``python -m jfsr.export --to stablehlo``): the generator as a
jax.export program that runs without jfsr."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def command(module: str, *args) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, '-m', module, *map(str, args)], cwd=REPO,
                        capture_output=True, text=True, timeout=600,
                        env={**os.environ, 'JFSR_ALLOCATOR': 'system'})


def test_stablehlo_export_runs_without_jfsr_and_matches_it(tmp_path):
  """``--to stablehlo`` writes the generator as a jax.export program that a process without
  jfsr on its path deserializes and runs, for any batch size, equal to jfsr's own output; it
  lists CPU, CUDA and TPU among its platforms."""
  import json
  output = tmp_path / 'g.stablehlo'
  result = command('jfsr.export', '--model', 'cpu-x16', '--to', 'stablehlo', '--output', output)
  assert result.returncode == 0, result.stderr[-3000:]
  script = f"""
import json, sys


class NoJfsr:  # jfsr is installed in this environment: make it unimportable here
  def find_spec(self, name, path=None, target=None):
    if name == 'jfsr' or name.startswith('jfsr.'):
      raise ImportError('jfsr is blocked in this process')


sys.meta_path.insert(0, NoJfsr())
import numpy as np
from jax import export
restore = export.deserialize(bytearray(open({str(output)!r}, 'rb').read()))
rng = np.random.default_rng(0)
outs = {{}}
for n in (1, 3):
  x = rng.uniform(-1, 1, (n, 16, 16, 3)).astype(np.float32)
  np.save({str(tmp_path)!r} + f'/x{{n}}.npy', x)
  np.save({str(tmp_path)!r} + f'/y{{n}}.npy', np.asarray(restore.call(x)))
assert not any(name.split('.')[0] == 'jfsr' for name in sys.modules)
print(json.dumps(list(restore.platforms)))
"""
  clean = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  ran = subprocess.run([sys.executable, '-I', '-c', script], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600, env=clean)
  assert ran.returncode == 0, ran.stderr[-3000:]
  assert set(json.loads(ran.stdout.strip().splitlines()[-1])) == {'cpu', 'cuda', 'tpu'}
  import jax
  import numpy as np
  from jfsr import inference
  config, variables, _ = inference.load_generator(model='cpu-x16', device=jax.devices('cpu')[0])
  sample = inference.make_sampler(config)
  for n in (1, 3):
    x = np.load(tmp_path / f'x{n}.npy')
    ours = np.asarray(sample(variables, x)['out_sharp'])
    np.testing.assert_allclose(np.load(tmp_path / f'y{n}.npy'), ours, atol=1e-4)
