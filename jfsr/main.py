r"""Training: ``python -m jfsr.main --config configs/celebahq.py[:VARIANT] --workdir DIR``.

Overrides go after the config: ``--config.train.batch_size=16``. It trains, and resumes
from the latest checkpoint in ``--workdir``; it evaluates every ``eval.every_steps``
(evaluating saved checkpoints afterwards is ``python -m jfsr.evaluate``).
Multi-process runs start one such command per host, all with the same config
(``--distributed=on`` on TPU VMs; ``--coordinator_address/--num_processes/
--process_id`` elsewhere); see ``launch/``.
"""

from __future__ import annotations

from absl import flags
from ml_collections import config_flags

from jfsr import cli

FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    cli.usage_error(f'unexpected arguments: {" ".join(argv[1:])}')
  from jfsr import distributed, train  # Heavy imports once the flags are good.
  distributed.initialize(FLAGS.distributed, FLAGS.coordinator_address, FLAGS.num_processes,
                         FLAGS.process_id)
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


def run() -> None:
  config_flags.DEFINE_config_file('config', None, 'config file, optionally with :VARIANT',
                                  lock_config=True)
  flags.DEFINE_string('workdir', None, 'directory for checkpoints, logs and samples')
  flags.DEFINE_enum('distributed', 'auto', ['auto', 'on', 'off'],
                    'join JAX\'s multi-process runtime: on (TPU VM workers and clusters JAX '
                    'detects, or the flags below), off, or auto (when the flags below or a '
                    'SLURM/MPI launch say so)')
  flags.DEFINE_string('coordinator_address', None, 'multi-process: host:port of process 0')
  flags.DEFINE_integer('num_processes', None, 'multi-process: how many processes', lower_bound=1)
  flags.DEFINE_integer('process_id', None, 'multi-process: this process\'s rank', lower_bound=0)
  flags.mark_flags_as_required(['config', 'workdir'])
  cli.run(main, __name__, accelerated=True)


if __name__ == '__main__':
  run()
