r"""Where a profiled step spends its device time: ``python tools/trace_summary.py TRACE.xplane.pb``.

Reads a trace that ``jax.profiler`` wrote (``python -m jfsr.measures.speed --profile_dir
DIR`` leaves it under ``DIR/plugins/profile/<run>/``) and prints, for the busiest
accelerator stream: the span, how much of it kernels kept busy, the time split
between matrix-unit kernels (cuDNN/cuBLAS convolutions and GEMMs), collectives,
copies and everything else (XLA's elementwise and reduction fusions), and the
kernels that took longest.
"""

from __future__ import annotations

import collections
import sys

# Kernel-name fragments of matrix-unit work (cuDNN implicit GEMMs, cuBLAS, CUTLASS).
_MATRIX = ('xmma', 'gemm', 'cutlass', 'cudnn', 'conv')


def kernel_class(name: str) -> str:
  lowered = name.lower()
  if any(part in lowered for part in _MATRIX):
    return 'convolution/matmul'
  if 'nccl' in lowered or 'all-reduce' in lowered:
    return 'collective'
  if 'memcpy' in lowered or 'memset' in lowered:
    return 'copy'
  return 'fusion/other'


def summarize(path: str, top: int = 15) -> str:
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # TensorFlow is a clu dependency

  space = xplane_pb2.XSpace()
  with open(path, 'rb') as f:
    space.ParseFromString(f.read())
  devices = [p for p in space.planes if p.name.startswith('/device:') and p.lines]
  if not devices:
    raise SystemExit(f'error: {path} holds no accelerator events (a CPU-only trace?)')
  plane = devices[0]
  line = max(plane.lines, key=lambda l: sum(e.duration_ps for e in l.events))
  per_kernel, calls, per_class = collections.Counter(), collections.Counter(), collections.Counter()
  for event in line.events:
    name = plane.event_metadata[event.metadata_id].name
    per_kernel[name] += event.duration_ps
    calls[name] += 1
    per_class[kernel_class(name)] += event.duration_ps
  start = min(e.offset_ps for e in line.events)
  span = max(e.offset_ps + e.duration_ps for e in line.events) - start
  busy = sum(per_kernel.values())
  lines = [f'{plane.name} {line.name}: span {span / 1e9:.2f} ms, kernels busy '
           f'{busy / 1e9:.2f} ms ({busy / span:.0%})']
  lines += [f'  {cls:20s} {t / 1e9:9.2f} ms  {t / busy:4.0%}' for cls, t in per_class.most_common()]
  lines.append(f'  top {top} kernels (ms, calls, name):')
  lines += [f'  {t / 1e9:9.2f} {calls[name]:6d}  {name[:100]}'
            for name, t in per_kernel.most_common(top)]
  return '\n'.join(lines)


if __name__ == '__main__':
  if len(sys.argv) != 2:
    raise SystemExit(__doc__.splitlines()[0])
  print(summarize(sys.argv[1]))
