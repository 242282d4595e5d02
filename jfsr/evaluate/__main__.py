"""The ``jfsr-evaluate`` command (also ``python -m jfsr.evaluate``): the checkpoints of a run,
or a shipped model, evaluated as :mod:`jfsr.evaluate` describes."""

from __future__ import annotations

import sys

from absl import flags

from jfsr import checkpointing, cli
from jfsr.errors import UsageError
from jfsr.evaluate import apply_overrides, evaluate_checkpoints

FLAGS = flags.FLAGS
CONFIG_OVERRIDES: list[str] = []  # --config.FIELD=VALUE arguments, taken out before parsing


def main(argv) -> None:
  del argv
  from jfsr.errors import JfsrError
  try:
    steps = parse_steps(FLAGS.steps) or None
    if FLAGS.model:
      from jfsr.pretrained import generators
      config = generators.load(FLAGS.model)[0]
    else:
      config = checkpointing.saved_config(FLAGS.workdir, steps[-1] if steps else None)
    apply_overrides(config, CONFIG_OVERRIDES)
    evaluate_checkpoints(config, FLAGS.workdir, steps, FLAGS.model, FLAGS.out)
  except (JfsrError, ValueError, FileNotFoundError) as error:
    cli.fail(error)


def parse_steps(values: list[str]) -> list[int]:
  try:
    return [int(v) for v in values]
  except ValueError:
    raise UsageError(f'--steps={",".join(values)}: give checkpoint steps as integers, '
                     'e.g. --steps=2000,4000') from None


def run() -> None:
  sys.argv[:], CONFIG_OVERRIDES[:] = cli.split_config_overrides(sys.argv)
  flags.DEFINE_string('workdir', None, 'a training run\'s --workdir (holding checkpoints/); '
                      'with --model, where the evaluation is written', required=True)
  cli.define_model_flags(checkpoint=False)  # --workdir names the run
  flags.adopt_module_key_flags(cli)  # listed in this command's --help
  flags.DEFINE_list('steps', [], 'checkpoint steps to evaluate (default: the latest)')
  flags.DEFINE_string('out', None, 'write OUT/eval/<step>/ (and its TensorBoard scalars) '
                      'instead of under --workdir, e.g. when evaluating other faces')
  cli.run(main, __name__, accelerated=True)


if __name__ == '__main__':
  run()
