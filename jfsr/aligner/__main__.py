r"""Trains the aligner:

    python -m jfsr.aligner --config configs/aligner.py --workdir DIR \
        --config.data.root=CELEBAMASK_HQ --config.data.extra_root=EXTRA_FACES

(:mod:`jfsr.aligner.train`). ``DIR/aligner.npz`` is the trained aligner; ``python -m
jfsr.measures.detection --aligner DIR/aligner.npz`` measures it.
"""

from __future__ import annotations

from absl import flags
from ml_collections import config_flags

from jfsr import cli

FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
  del argv
  from jfsr.aligner import train
  train.train(FLAGS.config, FLAGS.workdir)


def run() -> None:
  config_flags.DEFINE_config_file('config', None, 'configs/aligner.py[:VARIANT]',
                                  lock_config=True)
  flags.DEFINE_string('workdir', None, 'where the examples, checkpoints and aligner.npz go')
  flags.mark_flags_as_required(['config', 'workdir'])
  cli.run(main, __name__)


if __name__ == '__main__':
  run()
