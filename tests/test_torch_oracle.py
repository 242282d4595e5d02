"""jfsr's full train step against the authors' step transcribed in PyTorch.

The oracle (``tests/reference/torch_train_step.py``) shares no code with jfsr: its
networks, BatchNorm, initialisation, losses and Adam are PyTorch's own. jfsr's
initial weights go into it through ``jfsr.export``'s state dicts (so the export
is checked too: a wrong name, layout or skip order fails ``load_state_dict`` or
the comparison); dropout masks are replayed from jfsr's. Then one step each,
on the same batch, and everything compared: the generator's outputs, every loss
term, every updated parameter of G and both Ds, and every running statistic.

Needs torch (``pip install -e '.[oracle]'``); skipped without it.
"""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

torch = pytest.importorskip('torch')

from jfsr import models, train_step  # noqa: E402
from jfsr.export import pytorch  # noqa: E402
from jfsr.models.layers import ExampleDropout  # noqa: E402
from jfsr.pretrained import vgg_weights  # noqa: E402
from jfsr.train_state import create_train_state  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / 'reference'))
import torch_train_step as oracle  # noqa: E402

BATCH = 4


def _config(smoke_config):
  config = smoke_config
  config.loss.local_d_start_epoch = 0
  config.optimizer.learning_rate = 2e-4
  return config


def _batch(config, seed=0):
  rng = np.random.default_rng(seed)
  size, lr_size = config.data.hr_size, config.data.lr_size
  hr = rng.uniform(-1, 1, (BATCH, size, size, 3)).astype(np.float32)
  return {'lr': rng.uniform(-1, 1, (BATCH, lr_size, lr_size, 3)).astype(np.float32), 'hr': hr,
          'hr_blur': np.clip(hr + rng.normal(0, 0.1, hr.shape), -1, 1).astype(np.float32),
          'mask': (rng.uniform(size=(BATCH, size, size, 1)) > 0.4).astype(np.float32)}


def _nchw(x) -> torch.Tensor:
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def _state_dicts(config, state) -> dict:
  return pytorch.torch_state_dicts(config, jax.device_get(
      {n: {'params': getattr(state, n).params, 'batch_stats': getattr(state, n).batch_stats}
       for n in ('generator', 'global_d', 'local_d')}), step=int(state.step))


def _torch_nets(config, state, vgg_params):
  levels = int(np.log2(config.data.hr_size))
  m = config.model
  nets = {'generator': oracle.Generator(m.ngf, m.upsampler_features, levels,
                                        int(np.log2(config.data.hr_size // config.data.lr_size))),
          'global_d': oracle.Discriminator(6, m.d_features, m.d_layers),
          'local_d': oracle.Discriminator(3, m.d_features, m.d_layers),
          'vgg': oracle.VGGTaps(config.perceptual.network, config.perceptual.width_divisor)}
  for name, state_dict in _state_dicts(config, state).items():
    nets[name].load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()},
                               strict=True)
  vgg_convs = [conv for block in nets['vgg'].blocks for conv in block]
  names = models.vgg.conv_names(config.perceptual.network)[:len(vgg_convs)]
  with torch.no_grad():
    for conv, name in zip(vgg_convs, names):
      layer = vgg_params['params'][name]
      conv.weight.copy_(torch.from_numpy(np.asarray(layer['kernel']).transpose(3, 2, 0, 1).copy()))
      conv.bias.copy_(torch.from_numpy(np.array(layer['bias'])))
  for name in ('generator', 'global_d', 'local_d'):
    nets[name].train()
  return nets


def _jfsr_outputs_and_dropout(config, state, batch):
  """The generator's training-mode outputs in the step, and its dropout keep masks (NCHW)."""
  rng = jax.random.fold_in(state.rng, state.step)
  dropout_rng, noise_rng = jax.random.split(rng)
  generator = models.build_generator(config)
  outputs, mutated = generator.apply(
      {'params': state.generator.params, 'batch_stats': state.generator.batch_stats},
      batch['lr'], train=True, rngs={'dropout': dropout_rng, 'noise': noise_rng},
      mutable=['batch_stats', 'intermediates'],
      capture_intermediates=lambda module, _: isinstance(module, ExampleDropout))
  kept = [mutated['intermediates'][f'sharp_dec{i}_dropout']['__call__'][0] for i in (1, 2, 3)]
  return outputs, [_nchw(np.asarray(k) != 0).float() for k in kept]


def _feeds_batch_norm(key: str, state_dict: dict) -> bool:
  """Biases of convolutions that a BatchNorm follows (``X.N.bias`` with ``X.{N+1}`` a
  BatchNorm): their gradient is zero in exact arithmetic, so Adam's first step moves
  them by +-lr according to rounding noise, in either framework. For them only the
  size of that step is compared."""
  *module, index, leaf = key.split('.')
  return (leaf == 'bias' and index.isdigit()
          and '.'.join([*module, str(int(index) + 1), 'running_mean']) in state_dict)


def test_one_train_step_equals_the_authors_step_in_pytorch(smoke_config):
  config = _config(smoke_config)
  state = create_train_state(config, jax.random.PRNGKey(0))
  vgg_params = vgg_weights.perceptual_params(config)
  batch = _batch(config)
  torch.manual_seed(0)
  nets = _torch_nets(config, state, vgg_params)
  optimizers = oracle.make_optimizers(nets, config.optimizer.learning_rate,
                                      (config.optimizer.b1, config.optimizer.b2))

  outputs, keep = _jfsr_outputs_and_dropout(config, state, batch)
  step = jax.jit(lambda s, b: train_step.local_train_step(
      s, b, vgg_params, config=config, use_local_d=True, axis_name=None))
  new_state, metrics = step(state, batch)
  reference = oracle.train_step(nets, optimizers, {k: _nchw(v) for k, v in batch.items()},
                                config.loss.lambda_l1, config.loss.lambda_perceptual, keep)

  for name in ('upx', 'out_blur', 'out_sharp'):
    np.testing.assert_allclose(_nchw(outputs[name]).numpy(), reference[name].numpy(),
                               atol=2e-5, rtol=1e-4, err_msg=name)
  for term in ('d_global_fake', 'd_global_real', 'd_local_fake', 'd_local_real', 'd_loss',
               'g_global_adv', 'g_local_adv', 'l1_blur', 'l1_sharp', 'l1_face', 'perceptual',
               'g_loss'):
    np.testing.assert_allclose(float(metrics[term]), reference[term], rtol=2e-5, err_msg=term)

  initial = _state_dicts(config, state)
  lr = config.optimizer.learning_rate
  for name, state_dict in _state_dicts(config, new_state).items():
    theirs = nets[name].state_dict()
    assert set(theirs) == set(state_dict), name
    for key, value in state_dict.items():
      if _feeds_batch_norm(key, state_dict):
        for moved in (value, theirs[key].numpy()):
          assert np.max(np.abs(moved - initial[name][key])) <= 1.001 * lr, key
        continue
      expected = theirs[key].numpy()
      if name != 'generator' and key.endswith('running_mean'):
        # A discriminator's third call (inside the G update) runs with the updated
        # conv bias before this BatchNorm, whose noise-driven step (above) enters the
        # batch mean, and so the running mean with weight 1 - momentum = 0.1.
        *module, index, _ = key.split('.')
        bias = '.'.join([*module, str(int(index) - 1), 'bias'])
        expected = expected + 0.1 * (state_dict[bias] - theirs[bias].numpy())
      # Adam's first step is lr * g / (|g| + eps): where |g| is near eps (1e-8) rounding
      # shows, hence atol 1e-5 (5% of lr); everywhere else the parameters agree to 1e-6.
      np.testing.assert_allclose(np.asarray(value), expected, atol=1e-5, rtol=1e-5,
                                 err_msg=f'{name} {key}')


def test_exported_file_loads_with_a_plain_torch_load_into_the_authors_modules(smoke_config,
                                                                             tmp_path):
  """The torch-free writer's file under ``torch.load``'s default ``weights_only=True``,
  then a strict ``load_state_dict`` of every network."""
  from jfsr.export import torch_file
  config = _config(smoke_config)
  state = create_train_state(config, jax.random.PRNGKey(1))
  dicts = _state_dicts(config, state)
  path = tmp_path / 'nets.pth'
  torch_file.save_state_dict(dicts, path)
  loaded = torch.load(path)
  m = config.model
  modules = {'generator': oracle.Generator(m.ngf, m.upsampler_features, 5, 3),
             'global_d': oracle.Discriminator(6, m.d_features, m.d_layers),
             'local_d': oracle.Discriminator(3, m.d_features, m.d_layers)}
  for name, module in modules.items():
    module.load_state_dict(loaded[name], strict=True)
    for key, value in dicts[name].items():
      np.testing.assert_array_equal(module.state_dict()[key].numpy(), value)
