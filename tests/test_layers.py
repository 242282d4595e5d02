"""jfsr's modules import only from their own layer or the layers below it."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / 'jfsr'

# Lowest first. A module belongs to the layer of its longest matching prefix; commands
# are found by their names (COMMAND_MODULES, any package's ``__main__``, a ``*_flags`` module
# of flags that commands share), whatever package they sit in.
LAYERS = (
    ('foundation', ('jfsr', 'jfsr.errors', 'jfsr.config_defaults', 'jfsr.compile_cache',
                    'jfsr.pretrained.cache', 'jfsr.files', 'jfsr.config_loading', 'jfsr.grids',
                    'jfsr.host_memory', 'jfsr.host_cpu', 'jfsr.distributed', 'jfsr.gan_balance', 'jfsr.losses')),
    ('networks and their weights', ('jfsr.models', 'jfsr.pretrained')),
    ('data, faces, metrics', ('jfsr.data', 'jfsr.faces', 'jfsr.metrics', 'jfsr.aligner')),
    ('training state and checkpoints', ('jfsr.train_state', 'jfsr.train_step',
                                        'jfsr.checkpointing')),
    ('inference', ('jfsr.inference',)),
    ('applications', ('jfsr.train', 'jfsr.evaluate', 'jfsr.restoration', 'jfsr.export',
                      'jfsr.demo', 'jfsr.curves', 'jfsr.measures', 'jfsr.packing',
                      'jfsr.aligner.samples', 'jfsr.aligner.train')),
    ('commands', ()),
)
COMMAND_MODULES = ('jfsr.main', 'jfsr.restore', 'jfsr.cli')
COMMANDS = len(LAYERS) - 1


def is_command(module: str) -> bool:
  last = module.rsplit('.', 1)[-1]
  return module in COMMAND_MODULES or last == '__main__' or last.endswith('_flags')


def layer_of(module: str) -> int:
  if is_command(module):
    return COMMANDS
  best, level = '', None
  for index, (_, prefixes) in enumerate(LAYERS):
    for prefix in prefixes:
      if (module == prefix or module.startswith(prefix + '.')) and len(prefix) > len(best):
        best, level = prefix, index
  assert level is not None, f'{module} is in no layer: add it to LAYERS'
  return level


def module_name(path: Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imports_of(path: Path) -> set[str]:
  """Every jfsr module ``path`` imports, at the top or inside functions."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name.startswith('jfsr')}
    elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('jfsr'):
      for alias in node.names:  # `from jfsr import models` names a module, not a package member
        full = f'{node.module}.{alias.name}'
        is_module = (PACKAGE.parent / (full.replace('.', '/') + '.py')).exists() or \
            (PACKAGE.parent / full.replace('.', '/')).is_dir()
        found.add(full if is_module else node.module)
  return found


def test_no_module_imports_from_a_higher_layer():
  upward = []
  for path in sorted(PACKAGE.rglob('*.py')):
    name = module_name(path)
    for imported in sorted(imports_of(path)):
      if layer_of(imported) > layer_of(name):
        upward.append(f'{name} ({LAYERS[layer_of(name)][0]}) imports {imported} '
                      f'({LAYERS[layer_of(imported)][0]})')
  assert not upward, '\n'.join(upward)


def test_the_layer_check_sees_an_upward_import(tmp_path):
  """The walker finds imports inside functions and maps them to their layer."""
  source = tmp_path / 'x.py'
  source.write_text('def f():\n  from jfsr.restoration import Restorer\n  from jfsr import models\n')
  assert imports_of(source) == {'jfsr.restoration', 'jfsr.models'}
  assert layer_of('jfsr.restoration.restorer') > layer_of('jfsr.checkpointing')
  assert layer_of('jfsr.pretrained.__main__') > layer_of('jfsr.inference') > \
      layer_of('jfsr.pretrained.generators')
  assert layer_of('jfsr.measures.report_flags') == layer_of('jfsr.main') == COMMANDS
  assert layer_of('jfsr.cli') == COMMANDS > layer_of('jfsr.measures.in_frames')


def test_flags_are_declared_one_way_in_command_modules_alone():
  """Flags are declared in command modules alone (``DEFINE_`` nowhere else), and there
  inside functions (a command's ``run()``, or the ``define_flags`` of a ``*_flags``
  module), never at import."""
  declaring = [module_name(path) for path in sorted(PACKAGE.rglob('*.py'))
               if 'DEFINE_' in path.read_text()]
  assert declaring and all(is_command(name) for name in declaring), declaring
  at_import = []
  for path in sorted(PACKAGE.rglob('*.py')):
    for statement in ast.parse(path.read_text()).body:
      calls = [node for node in ast.walk(statement) if isinstance(node, ast.Call)]
      if not isinstance(statement, (ast.FunctionDef, ast.ClassDef)) and any(
          getattr(call.func, 'attr', '').startswith('DEFINE') for call in calls):
        at_import.append(f'{module_name(path)}:{statement.lineno}')
  assert not at_import, at_import
