"""``python -m jfsr.restore``: the restoration command (:mod:`jfsr.restoration.cli`)."""

from jfsr.restoration.cli import run

if __name__ == '__main__':
  run()
