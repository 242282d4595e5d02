"""What every jfsr command shares: help that reads well, one-line flag and input errors,
quiet libraries, and (for commands that run networks) the fast host allocator and the
persistent compilation cache.

absl's ``--help`` prints the docstring and flags of ``__main__``; for an installed
console script (``jfsr-train``) that is the generated wrapper, so the help was a
bare ``USAGE: ... [flags]``, and it exits with status 1. :func:`run` prints the
command's own module docstring and flags instead and exits 0. Libraries' INFO
records (orbax's checkpoint internals, clu's per-metric lines) are dropped unless
``--verbosity`` is 1 or more; jfsr's own records and every warning stay.
"""

from __future__ import annotations

import logging as std_logging
import os
import sys
from pathlib import Path
from typing import Callable

from absl import app, flags, logging

FLAGS = flags.FLAGS
HELP_FLAGS = ('-h', '--help', '--helpshort', '-?')
PACKAGE_DIR = str(Path(__file__).resolve().parent)


def help_text(module_name: str) -> str:
  """The command's docstring, then its flags (absl's formatting). A package's ``__main__``
  (``python -m jfsr.export``) is documented by its package, the library it runs."""
  module = sys.modules[module_name]
  spec = getattr(module, '__spec__', None)
  if spec is not None and spec.name.endswith('.__main__'):
    module = sys.modules[spec.parent]
  doc = (module.__doc__ or '').strip()
  flag_help = FLAGS.module_help(module_name)
  return f'{doc}\n\nflags:\n{flag_help}\n\nAll flags, absl\'s included: --helpfull\n'


def config_field_error(error: Exception) -> str:
  """ml_collections' missing-field error as plain text: its message is the repr of a
  multi-line string (``'\\'bach_size\\'\\nDid you mean ...'``)."""
  message = error.args[0] if error.args else str(error)
  message = str(message).strip().strip("'").replace("\\'", "'").replace('\\n', ' ')
  return ' '.join(message.split())


def split_config_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
  """``argv`` without its ``--config.FIELD=VALUE`` (or ``--config.FIELD VALUE``) arguments,
  and those as ``FIELD=VALUE``: for commands that change a *saved* config (no config file on
  their command line) with the same spelling ``jfsr.main`` uses."""
  kept, overrides = [argv[0]], []
  args = iter(argv[1:])
  for arg in args:
    if arg.startswith('--config.'):
      field, sep, value = arg[len('--config.'):].partition('=')
      overrides.append(f'{field}={value if sep else next(args, "")}')
    else:
      kept.append(arg)
  return kept, overrides


def argv_value(argv: list[str], name: str) -> str:
  """The value given to ``--name`` on a command line (``--name=V`` or ``--name V``; the
  last one, which is the one that counts)."""
  value = ''
  for index, arg in enumerate(argv):
    if arg.startswith(f'--{name}='):
      value = arg.split('=', 1)[1]
    elif arg == f'--{name}' and index + 1 < len(argv):
      value = argv[index + 1]
  return value


def flags_parser(module_name: str) -> Callable[[list[str]], list[str]]:
  """A ``flags_parser`` for ``app.run``: help to stdout with status 0, bad flags and
  config overrides as one line each."""

  def parse(argv: list[str]) -> list[str]:
    if any(arg in HELP_FLAGS for arg in argv[1:]):
      sys.stdout.write(help_text(module_name))
      sys.exit(0)
    if '--helpfull' in argv[1:]:
      sys.stdout.write(FLAGS.get_help())
      sys.exit(0)
    try:
      rest = FLAGS(argv)
      if 'config' in FLAGS and FLAGS['config'].present:
        FLAGS['config'].value.keys  # a file that failed to load raises on first use
      return rest
    except (OSError, ImportError, SyntaxError) as error:  # the --config file itself
      reason = (f'{error.msg}, line {error.lineno}' if isinstance(error, SyntaxError)
                else str(error).splitlines()[-1].strip() or type(error).__name__)
      usage_error(f'--config {argv_value(argv, "config")}: cannot be loaded ({reason})')
    except flags.Error as error:
      lines = [line.strip() for line in str(error).splitlines() if line.strip()]
      if any(line.startswith('Traceback') for line in lines):
        lines = [lines[0], lines[-1]]  # where it happened, and the exception's own message
      usage_error(f'{" ".join(lines)} (--help lists the flags)')
    except (AttributeError, KeyError) as error:  # ml_collections: a field that is not there
      usage_error(f'the config has no field {config_field_error(error)} '
                  '(see configs/celebahq.py for the fields)')

  return parse


class _OwnRecordsOnly(std_logging.Filter):
  """Passes warnings and worse from anywhere, and lower levels from jfsr's own files."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING
            or os.path.abspath(record.pathname).startswith(PACKAGE_DIR))


def quiet_libraries() -> None:
  """Keeps libraries at WARNING unless ``--verbosity`` is 1 or more (call after parsing)."""
  if FLAGS.verbosity >= 1:
    return
  logging.get_absl_handler().addFilter(_OwnRecordsOnly())


def define_model_flags(checkpoint: bool = True, onnx: bool = False) -> None:
  """The flags that name the generator a command runs, declared once for every command:
  ``--model`` (a shipped NAME or a packed file), and where the command takes them
  ``--checkpoint`` (a training run) and ``--onnx`` (an exported graph)."""
  flags.DEFINE_string('model', None, 'a shipped model by NAME (python -m jfsr.pretrained list) '
                      'or a packed .npz file; where a command restores photos, none named: the '
                      'default shipped models, each face by the one its size suits')
  if checkpoint:
    flags.DEFINE_string('checkpoint', None, 'instead of --model: a training --workdir (its '
                        'latest checkpoint) or one of its checkpoints/<step> folders')
  if onnx:
    flags.DEFINE_string('onnx', None, 'instead of --model: a `jfsr.export --to onnx` file, '
                        'whose generator then runs in onnxruntime')


def fail(error: Exception | str, status: int | None = None) -> None:
  """Ends the command with ``error`` as one line, ``error: ...`` on stderr, and its exit
  status (``status``, else the error's: 2 for a :class:`jfsr.errors.UsageError`, else 1)."""
  status = status or getattr(error, 'exit_status', 1)
  sys.stdout.flush()
  sys.stderr.write(f'error: {error}\n')
  sys.stderr.flush()
  if getattr(error, 'exit_at_once', False):
    os._exit(status)
  sys.exit(status)


def usage_error(message: str) -> None:
  """Ends the command: the command line is wrong (one line, status 2)."""
  fail(message, 2)


def run(main: Callable[[list[str]], None], module_name: str, accelerated: bool = False) -> None:
  """``app.run(main)`` with jfsr's help, flag errors and quiet libraries; an error a user can
  fix (:class:`jfsr.errors.JfsrError`, weights not fetched among them) ends the command with
  one line.

  ``accelerated``: for commands that run networks, first restart with the fast host
  allocator where the networks run on the CPU (:mod:`jfsr.host_memory`), and keep compiled
  programs in the persistent compilation cache (:mod:`jfsr.compile_cache`).
  """
  from jfsr.errors import JfsrError
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')  # TensorFlow's C++ INFO lines
  if accelerated:
    from jfsr import host_memory
    host_memory.restart_with_fast_allocator()

  def quiet_main(argv: list[str]) -> None:
    quiet_libraries()
    if accelerated:
      from jfsr import compile_cache
      compile_cache.enable()
    try:
      main(argv)
    except JfsrError as error:  # weights not fetched among them
      fail(error)

  app.run(quiet_main, flags_parser=flags_parser(module_name))
