"""The benchmark command runs on ``smoke`` and prints well-formed JSON (no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_emits_json_records():
  command = [sys.executable, '-m', 'jfsr.bench', '--config', 'configs/celebahq.py:smoke',
             '--repeats', '1', '--infer_batches', '2', '--loader_workers', '0',
             '--loader_batches', '2', '--blur_images', '2', '--fed_steps', '2',
             '--what', 'train,generator,blur,loader,fed']
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{')]
  assert [r['what'] for r in records] == ['train_step', 'fed_train', 'generator', 'blur', 'blur',
                                          'loader']
  train = records[0]
  for key in ('compile_s', 'median_s', 'images_per_s', 'xla_flops_per_step', 'peak_memory_bytes'):
    assert isinstance(train[key], (int, float)) and train[key] > 0, key
  assert train['devices'] == 4  # conftest's simulated devices
  assert train['compute_dtype'] == 'float32'  # 'auto' on CPU
  assert 0 <= records[1]['host_wait_share'] <= 1
  assert '| train_step |' in result.stderr
