"""The benchmark command runs on ``smoke`` and prints well-formed JSON (no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_emits_json_records(tmp_path):
  command = [sys.executable, '-m', 'jfsr.measures.speed', '--config', 'configs/celebahq.py:smoke',
             '--repeats', '1', '--infer_batches', '2', '--loader_workers', '0',
             '--loader_batches', '2', '--blur_images', '2', '--fed_steps', '2',
             '--what', 'train,generator,blur,loader,fed,perceptual', '--profile_dir', str(tmp_path)]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{')]
  layers = [r for r in records if r['what'] == 'perceptual_layer']
  # smoke's VGG-16 to relu5_1: 13 layers, 9 shapes, each as XLA's and the bfloat16 form
  assert len(layers) == 18 and layers[0]['layer'] == 'conv1_1' and layers[-1]['layer'] == 'conv5_1'
  train = records[0]
  # float32, then perceptual.dtype where that differs ('auto' is bfloat16 only on CPUs with
  # AMX tiles, jfsr.host_cpu)
  dtypes = list(dict.fromkeys(['float32', train['perceptual_dtype']]))
  assert [r['what'] for r in records if r['what'] != 'perceptual_layer'] == [
      'train_step', 'fed_train', *['perceptual'] * len(dtypes), 'generator', 'blur', 'blur',
      'loader']
  for key in ('compile_s', 'median_s', 'images_per_s', 'xla_flops_per_step', 'peak_memory_bytes'):
    assert isinstance(train[key], (int, float)) and train[key] > 0, key
  assert train['devices'] == 4  # conftest's simulated devices
  assert train['compute_dtype'] == 'float32'  # 'auto' on CPU
  assert [r['dtype'] for r in records if r['what'] == 'perceptual'] == dtypes
  assert 0 <= records[1]['host_wait_share'] <= 1
  assert '| train_step |' in result.stderr
  assert list(tmp_path.glob('plugins/profile/*/*.xplane.pb')), 'no profiler trace written'


def test_trace_summary_classes(monkeypatch):
  from pathlib import Path
  monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / 'tools'))
  from trace_summary import kernel_class
  assert kernel_class('sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32') == 'convolution/matmul'
  assert kernel_class('ncclDevKernel_AllReduce_Sum_f32_RING_LL') == 'collective'
  assert kernel_class('input_reduce_select_fusion_3') == 'fusion/other'
