"""The config variants and recipes: each loads and passes the config checks, and the CPU
recipes' branches resume their parent's runs with nothing changed but what they name."""

import pytest

from jfsr import config_loading
from jfsr.errors import ConfigError


def _flat(config_dict: dict, prefix: str = '') -> dict:
  flat = {}
  for key, value in config_dict.items():
    if isinstance(value, dict):
      flat.update(_flat(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def _variants() -> tuple[str, ...]:
  import importlib.util
  spec = importlib.util.spec_from_file_location('celebahq', config_loading.CONFIG_DIR / 'celebahq.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.VARIANTS


RECIPES = config_loading.CONFIG_DIR / 'experiments' / 'cpu_x16.py'


def _recipe(name: str):
  """A recipe of configs/experiments/cpu_x16.py by its variant name (``cpu_x16_ema``)."""
  return config_loading.load_config(name.removeprefix('cpu_x16').removeprefix('_') or 'base',
                                    RECIPES)


@pytest.mark.parametrize('variant', _variants())
def test_every_variant_loads_names_itself_and_validates(variant):
  config = config_loading.load_config(variant)
  assert config.variant == variant
  config_loading.validate(config)


@pytest.mark.parametrize('recipe', ['base', 'ema', 'late', 'more', 'localgan', 'continue',
                                    'frames', 'photos', 'compressed'])
def test_every_cpu_recipe_loads_and_validates(recipe):
  config = config_loading.load_config(recipe, RECIPES)
  assert config.variant == ('cpu_x16' if recipe == 'base' else f'cpu_x16_{recipe}')
  config_loading.validate(config)


def _branch_of_ema(variant: str) -> tuple[dict, dict, set[str]]:
  """``(cpu_x16_ema's config, variant's config, the flat keys where they differ)``, after
  checking that the variant resumes a ``cpu_x16_ema`` workdir (same state signature)."""
  ema = _recipe('cpu_x16_ema').to_dict()
  branch = _recipe(variant).to_dict()
  assert config_loading.state_signature(branch) == config_loading.state_signature(ema)
  return ema, branch, {key for key, value in _flat(branch).items() if _flat(ema)[key] != value}


def test_the_late_phase_variant_only_lowers_the_learning_rate():
  """``cpu_x16_late`` differs from ``cpu_x16_ema`` in the learning rate alone: a quarter."""
  ema, late, differences = _branch_of_ema('cpu_x16_late')
  assert differences == {'variant', 'optimizer.learning_rate'}
  assert late['optimizer']['learning_rate'] == ema['optimizer']['learning_rate'] / 4


def test_the_more_faces_variant_only_adds_the_extra_folder_share():
  """``cpu_x16_more`` differs from ``cpu_x16_ema`` only in the share of extra faces and the
  held-out part of their folder (whose path the command line gives)."""
  _, more, differences = _branch_of_ema('cpu_x16_more')
  assert differences == {'variant', 'data.extra_weight', 'data.extra_first_index'}
  assert 0 < more['data']['extra_weight'] < 1 and more['data']['extra_first_index'] > 0


def test_the_local_gan_variant_only_drops_the_global_adversarial_weight():
  """``cpu_x16_localgan`` differs from ``cpu_x16_ema`` only in the global adversarial term's
  weight, which it sets to 0 (the global D keeps training: it is still in the state)."""
  ema, localgan, differences = _branch_of_ema('cpu_x16_localgan')
  assert differences == {'variant', 'loss.lambda_global_adv'}
  assert ema['loss']['lambda_global_adv'] == 1.0 and localgan['loss']['lambda_global_adv'] == 0
  assert localgan['model']['use_global_d']


def test_the_continue_variant_is_the_local_gan_as_a_fresh_run_from_the_shipped_model():
  """``cpu_x16_continue`` is what carries the shipped model on: ``cpu_x16_localgan`` with its
  generator from ``cpu-x16`` and no global D (the command line that trained the shipped
  model's continuation gave those two as overrides)."""
  from jfsr.pretrained import generators
  localgan = _flat(_recipe('cpu_x16_localgan').to_dict())
  continued = _flat(_recipe('cpu_x16_continue').to_dict())
  assert {k for k in localgan if localgan[k] != continued[k]} == {
      'variant', 'model.use_global_d', 'model.generator_init'}
  assert continued['loss.lambda_global_adv'] == 0 and continued['model.use_local_d']
  assert not continued['model.use_global_d']
  assert continued['model.generator_init'] in generators.SHIPPED


@pytest.mark.parametrize('field, value', [('lambda_global_adv', -1.0), ('lambda_l1', float('nan'))])
def test_a_negative_or_non_finite_loss_weight_is_refused(field, value):
  config = config_loading.load_config('smoke')
  config.loss[field] = value
  with pytest.raises(ConfigError, match=f'loss.{field}='):
    config_loading.validate(config, 1)


def test_config_overrides_are_split_from_other_flags():
  from jfsr import cli
  argv = ['prog', '--workdir', 'w', '--config.data.root=/d', '--config.eval.num_images', '5',
          '--steps=1,2']
  kept, overrides = cli.split_config_overrides(argv)
  assert kept == ['prog', '--workdir', 'w', '--steps=1,2']
  assert overrides == ['data.root=/d', 'eval.num_images=5']


def test_every_console_script_answers_help():
  """Each script of pyproject.toml resolves to a callable that prints its own help and exits 0
  (run through the entry point, as an installed script runs)."""
  import os
  import re
  import subprocess
  import sys
  from pathlib import Path
  text = (Path(__file__).resolve().parent.parent / 'pyproject.toml').read_text()
  scripts = dict(re.findall(r'^(jfsr-[\w-]+) = "([\w.:]+)"', text, re.M))
  assert {'jfsr-train', 'jfsr-restore', 'jfsr-evaluate', 'jfsr-export'} <= set(scripts)
  for name, target in scripts.items():
    module, function = target.split(':')
    code = (f'import sys; sys.argv = [{name!r}, "--help"]; from {module} import {function}; '
            f'sys.exit({function}())')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, 'JFSR_ALLOCATOR': 'system'})
    assert result.returncode == 0, (name, result.stderr[-2000:])
    assert len(result.stdout.splitlines()) > 3 and '--' in result.stdout, (name, result.stdout)


def test_the_frames_recipe_is_continue_with_frame_mode_and_the_extra_faces():
  continued = _flat(_recipe('cpu_x16_continue').to_dict())
  frames = _flat(_recipe('cpu_x16_frames').to_dict())
  assert {k for k in continued if continued[k] != frames[k]} == {
      'variant', 'data.frame_share', 'data.extra_weight', 'data.extra_first_index'}
  assert frames['data.frame_share'] == 0.5 and frames['data.extra_first_index'] == 100


def test_the_x32_recipe_is_the_photo_recipe_at_the_papers_sizes_from_the_default_model():
  """``configs/experiments/cpu_x32.py`` changes the photo recipe only in what it says: the
  paper's sizes, the grown default model as its start, a short run's batch, average,
  intervals and evaluation, and the VGG in bfloat16 where matrix units make it faster."""
  from jfsr.pretrained import generators
  photos = _flat(_recipe('cpu_x16_photos').to_dict())
  x32_config = config_loading.load_config(None, RECIPES.with_name('cpu_x32.py'))
  config_loading.validate(x32_config)
  x32 = _flat(x32_config.to_dict())
  assert {k for k in photos if photos[k] != x32[k]} == {
      'variant', 'data.hr_size', 'data.lr_size', 'model.generator_init', 'train.batch_size',
      'train.ema_decay', 'train.log_every_steps', 'train.image_every_steps',
      'train.checkpoint_every_steps', 'eval.every_steps', 'eval.fid', 'eval.lpips',
      'eval.identity', 'perceptual.dtype'}
  assert (x32['data.hr_size'], x32['data.lr_size']) == (256, 32)
  assert x32['model.generator_init'] in generators.SHIPPED
  assert generators.load(x32['model.generator_init'])[0].data.lr_size == 16  # grown, not equal


def test_the_compressed_recipe_is_the_photo_recipe_with_more_jpeg_from_the_default_model():
  """``cpu_x16_compressed`` changes the photo recipe only in what its docstring says: it
  starts from the shipped default, degrades three quarters of the examples as photos
  (most as JPEG) at half the learning rate, and checkpoints and evaluates more often."""
  photos = _flat(_recipe('cpu_x16_photos').to_dict())
  compressed = _flat(_recipe('cpu_x16_compressed').to_dict())
  assert {k for k in photos if photos[k] != compressed[k]} == {
      'variant', 'model.generator_init', 'data.photo.share', 'data.photo.jpeg_prob',
      'optimizer.learning_rate', 'train.checkpoint_every_steps', 'eval.every_steps',
      'eval.identity'}
  assert compressed['model.generator_init'] == 'cpu-x16-photos'
  assert compressed['optimizer.learning_rate'] == photos['optimizer.learning_rate'] / 2
  assert compressed['data.photo.share'] > photos['data.photo.share']
