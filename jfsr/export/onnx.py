"""The generator as an ONNX graph, written with the ``onnx`` package, no converter.

The graph is the inference-mode generator: BatchNorm with its running statistics
(``BatchNormalization`` nodes), no dropout, and the sharp face as the one output.

* input ``lr``: float32 ``(batch, lr, lr, C)``, NHWC, RGB (C = 3; 1 for a grey-input model)
  in [-1, 1] (``uint8 / 127.5 - 1``); the batch dimension is dynamic;
* output ``sharp``: float32 ``(batch, hr, hr, 3)``, NHWC, in [-1, 1]
  (``round((y + 1) * 127.5)`` gives uint8);
* the ``noise`` ("w/N") generator only: one more input per place it adds noise, named
  ``noise_<layer>`` (``noise_lr``, ``noise_upx``, ``noise_enc1`` ...), float32 NHWC of that
  activation's shape, a draw of N(0, 1): the graph adds ``1 + noise_std * noise`` there, as
  the network does with its own draws. Zeros give the mean output; no randomness is hidden
  in the file.

NHWC, as the StableHLO export and the decoded images (``numpy``, PIL) are: a caller feeds
pixels without transposing them; the graph transposes to ONNX's NCHW convolutions once on
the way in and once on the way out. The metadata holds the model's config
(``jfsr.config``, JSON) and step (``jfsr.step``), which ``jfsr.restore --onnx`` reads.

Each jfsr layer has a standard ONNX counterpart: ``Conv`` (symmetric pads), ``ConvTranspose``
(4x4, stride 2, pads 1: PyTorch's, whose ``(in, out, ky, kx)`` weight jfsr keeps),
``DepthToSpace`` in ``CRD`` mode (PyTorch's ``PixelShuffle``), ``BatchNormalization``
(epsilon 1e-5), ``LeakyRelu`` (0.2), ``Relu``, ``Concat``, ``Add``, ``Tanh``.
"""

from __future__ import annotations

import json
import math

import ml_collections
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from jfsr.errors import JfsrError
from jfsr.models.generator import encoder_widths

OPSET = 17
IR_VERSION = 8  # what onnxruntime 1.12 and newer read


class _GraphBuilder:
  """Nodes and initializers of one graph, with a unique name per value."""

  def __init__(self):
    self.nodes: list[onnx.NodeProto] = []
    self.initializers: list[onnx.TensorProto] = []
    self.inputs: list[onnx.ValueInfoProto] = []
    self._count = 0

  def _name(self, hint: str) -> str:
    self._count += 1
    return f'{hint}_{self._count}'

  def constant(self, value: np.ndarray, hint: str) -> str:
    name = self._name(hint)
    self.initializers.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
    return name

  def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attributes) -> str:
    output = self._name(hint or op_type.lower())
    self.nodes.append(helper.make_node(op_type, inputs, [output], **attributes))
    return output

  def nhwc_input(self, name: str, size: int | str, channels: int) -> str:
    """A float32 NHWC graph input of a dynamic batch; returns it as NCHW."""
    self.inputs.append(helper.make_tensor_value_info(
        name, TensorProto.FLOAT, ['batch', size, size, channels]))
    return self.op('Transpose', [name], f'{name}_nchw', perm=[0, 3, 1, 2])

  # --- Layers, on NCHW values -------------------------------------------------------------

  def conv(self, x: str, layer: dict, hint: str, stride: int = 1, padding: int | None = None
           ) -> str:
    """A square convolution; ``padding`` defaults to 'same' for odd kernels."""
    kernel = np.asarray(layer['kernel'], np.float32)  # (k, k, in, out)
    k = kernel.shape[0]
    padding = (k - 1) // 2 if padding is None else padding
    inputs = [x, self.constant(kernel.transpose(3, 2, 0, 1), f'{hint}_weight')]
    if 'bias' in layer:
      inputs.append(self.constant(layer['bias'], f'{hint}_bias'))
    return self.op('Conv', inputs, hint, kernel_shape=[k, k], strides=[stride, stride],
                   pads=[padding] * 4)

  def conv_transpose(self, x: str, layer: dict, hint: str) -> str:
    kernel = np.asarray(layer['kernel'], np.float32)  # (4, 4, in, out), PyTorch's orientation
    return self.op('ConvTranspose', [x, self.constant(kernel.transpose(2, 3, 0, 1), f'{hint}_weight'),
                                     self.constant(layer['bias'], f'{hint}_bias')],
                   hint, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])

  def batch_norm(self, x: str, params: dict, stats: dict, hint: str) -> str:
    return self.op('BatchNormalization',
                   [x, self.constant(params['scale'], f'{hint}_scale'),
                    self.constant(params['bias'], f'{hint}_bias'),
                    self.constant(stats['mean'], f'{hint}_mean'),
                    self.constant(stats['var'], f'{hint}_var')], hint, epsilon=1e-5)

  def leaky_relu(self, x: str) -> str:
    return self.op('LeakyRelu', [x], alpha=0.2)

  def concat(self, values: list[str]) -> str:
    return self.op('Concat', values, axis=1)


def _check_exportable(config: ml_collections.ConfigDict) -> None:
  if not config.model.use_upsampler:
    raise JfsrError('model1 (use_upsampler=False) reads a bicubic resize whose edge handling '
                    '(jax.image.resize) ONNX\'s Resize does not reproduce; export a model with '
                    'the upsampling CNN')


def generator_graph(config: ml_collections.ConfigDict, variables: dict,
                    step: int = 0) -> onnx.ModelProto:
  """The inference-mode generator of ``config`` with ``variables`` as an ONNX model."""
  _check_exportable(config)
  params, stats = variables['params'], variables['batch_stats']
  lr_size, hr_size = config.data.lr_size, config.data.hr_size
  channels = 1 if config.data.grayscale_input else 3
  noise_std = float(config.model.noise_std)
  g = _GraphBuilder()

  def noise(x: str, site: str, size: int, width: int) -> str:
    if noise_std <= 0:
      return x
    drawn = g.nhwc_input(f'noise_{site}', size, width)
    shift = g.op('Add', [g.op('Mul', [drawn, g.constant(np.float32(noise_std), 'noise_std')]),
                         g.constant(np.float32(1.0), 'one')])
    return g.op('Add', [x, shift], f'{site}_noisy')

  x = noise(g.nhwc_input('lr', lr_size, channels), 'lr', lr_size, channels)

  upsampler = params['upsampler']
  convs = sorted(upsampler, key=lambda name: int(name.split('_')[1]))
  h = g.leaky_relu(g.conv(x, upsampler[convs[0]], 'upsampler_0'))
  for i, name in enumerate(convs[1:-1], start=1):
    h = g.op('DepthToSpace', [g.conv(h, upsampler[name], f'upsampler_{i}')], blocksize=2,
             mode='CRD')
    h = g.leaky_relu(h)
  out_channels = np.asarray(upsampler[convs[-1]]['kernel']).shape[-1]
  upx = g.conv(h, upsampler[convs[-1]], f'upsampler_{len(convs) - 1}')

  num_levels = int(math.log2(hr_size))
  widths = encoder_widths(config.model.ngf, num_levels)
  skips, sizes = [], []
  h = noise(upx, 'upx', hr_size, out_channels)
  size = hr_size
  for level, width in enumerate(widths, start=1):
    if level > 1:
      h = g.leaky_relu(h)
    h = g.conv(h, params[f'enc{level}'], f'enc{level}', stride=2, padding=1)
    if level > 1:
      h = g.batch_norm(h, params[f'enc{level}_bn'], stats[f'enc{level}_bn'], f'enc{level}_bn')
    size //= 2
    h = noise(h, f'enc{level}', size, width)
    skips.append(h)
    sizes.append(size)

  def up_block(x: str, name: str, level: int) -> str:
    """ReLU, transposed convolution, BatchNorm, noise; then the skip of ``level`` (if any)."""
    x = g.conv_transpose(g.op('Relu', [x]), params[name], name)
    x = g.batch_norm(x, params[f'{name}_bn'], stats[f'{name}_bn'], f'{name}_bn')
    x = noise(x, name, sizes[level - 1], widths[level - 1])
    return g.concat([x, skips[level - 1]]) if level > 1 else x

  blur_features = skips[3]  # the blur decoder starts at the fourth level
  for i, level in enumerate((3, 2, 1)):
    blur_features = up_block(blur_features, f'blur_dec{i + 1}', level)
  s = skips[-1]
  for i, level in enumerate(range(num_levels - 1, 0, -1)):
    s = up_block(s, f'sharp_dec{i + 1}', level)
  s = g.concat([g.op('Add', [s, blur_features]), skips[0]])
  sharp = g.op('Tanh', [g.conv_transpose(g.op('Relu', [s]), params['sharp_out'], 'sharp_out')])
  g.nodes.append(helper.make_node('Transpose', [sharp], ['sharp'], perm=[0, 2, 3, 1]))

  output = helper.make_tensor_value_info('sharp', TensorProto.FLOAT,
                                         ['batch', hr_size, hr_size, out_channels])
  graph = helper.make_graph(g.nodes, 'jfsr_generator', g.inputs, [output], g.initializers)
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                            producer_name='jfsr', ir_version=IR_VERSION)
  model.doc_string = (f'jfsr generator: {lr_size}² blurred face -> {hr_size}² sharp face; '
                      'input "lr" float32 NHWC RGB in [-1, 1], output "sharp" float32 NHWC in '
                      '[-1, 1]')
  helper.set_model_props(model, {'jfsr.config': config.to_json(), 'jfsr.step': str(step)})
  onnx.checker.check_model(model, full_check=True)
  return model


def serialize(config: ml_collections.ConfigDict, variables: dict, step: int = 0) -> bytes:
  """The ONNX file's bytes (:func:`generator_graph`)."""
  return generator_graph(config, variables, step).SerializeToString()


def read_metadata(props: dict[str, str]) -> tuple[dict, int]:
  """``(config as a dict, step)`` from the metadata of a file this module wrote (as
  onnxruntime's ``get_modelmeta().custom_metadata_map`` gives it)."""
  if 'jfsr.config' not in props:
    raise JfsrError('not an ONNX file written by jfsr.export (no jfsr.config in its metadata)')
  return json.loads(props['jfsr.config']), int(props.get('jfsr.step', 0))
