"""Whether each discriminator still tells real faces from the generator's.

A discriminator's *margin* is its mean score on real crops minus its mean score on the
generator's (LSGAN targets: 1 and 0, so about 1 while it wins easily and about 0 once it
answers the same for both). A margin that falls to about 0 mid-run means that
discriminator has stopped pulling the generator anywhere: from then on the generator
trains on its remaining terms (L1, perceptual, the other discriminator), which shows in
the metrics (PSNR usually rises). The trainer warns when that happens
(:class:`MarginWatch`) and ``python -m jfsr.curves`` draws the margins of a run next to
its metrics (:class:`MarginReader`).
"""

from __future__ import annotations

import math

from etils import epath

DISCRIMINATORS = ('global', 'local')
LOST_BELOW = 0.1  # a margin under this: the discriminator no longer separates the two
HELD_ABOVE = 0.3  # a margin over this: it does (again); between the two nothing changes


def margins(summary: dict[str, float]) -> dict[str, float]:
  """``{discriminator: mean real score - mean fake score}`` of the discriminators that
  ``summary`` (the trainer's logged means) has scores for."""
  return {name: summary[f'score_{name}_real'] - summary[f'score_{name}_fake']
          for name in DISCRIMINATORS
          if f'score_{name}_real' in summary and f'score_{name}_fake' in summary}


class MarginWatch:
  """Says when a discriminator that had been separating real from fake stops, and when it
  starts again (with hysteresis, so one noisy interval does not flip it back and forth).

  A discriminator has to have held a margin above ``HELD_ABOVE`` once before its fall
  counts: at the start of a run every margin is about 0 and that is not news.
  """

  def __init__(self):
    self._holding: dict[str, bool] = {}

  def update(self, step: int, summary: dict[str, float]) -> list[str]:
    """The messages that the margins of ``summary`` (logged at ``step``) call for."""
    messages = []
    for name, margin in margins(summary).items():
      if not math.isfinite(margin):
        continue
      was_holding = self._holding.get(name)
      if margin > HELD_ABOVE and was_holding is not True:
        if was_holding is False:
          messages.append(f'step {step}: the {name} discriminator tells real faces from the '
                          f'generator\'s again (margin {margin:.2f})')
        self._holding[name] = True
      elif margin < LOST_BELOW and was_holding:
        self._holding[name] = False
        messages.append(
            f'step {step}: the {name} discriminator no longer tells real faces from the '
            f'generator\'s (mean score real {summary[f"score_{name}_real"]:.2f}, fake '
            f'{summary[f"score_{name}_fake"]:.2f}); until it recovers the generator trains '
            'without its adversarial pull, and the metrics may move with that. GANs do this '
            'now and then, early in a run most of all; the curves\' last panel shows it')
    return messages


class MarginReader:
  """``{discriminator: {step: margin}}`` from the TensorBoard events of a training
  workdir, read incrementally: each :meth:`read` parses only what was written since the
  last one (the trainer redraws its curves after every evaluation, and a long run's event
  files, image summaries included, grow to many megabytes).

  Event files are read in the order they were written; a resumed run logs again the
  steps after its last checkpoint, and the later value of a step wins.
  """

  _WANTED = frozenset(f'score_{name}_{side}' for name in DISCRIMINATORS
                      for side in ('real', 'fake'))

  def __init__(self, workdir):
    self._workdir = epath.Path(workdir)
    self._loaders: dict[str, object] = {}  # event file -> its open, resumable loader
    self._scores: dict[int, dict[str, float]] = {}

  def read(self) -> dict[str, dict[int, float]]:
    """The margins of every step logged so far (empty when the workdir has no events,
    e.g. the ``--out`` folder of an evaluation)."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    # TensorBoard names each file events.out.tfevents.<creation seconds>.<host>...: by
    # name is by creation time.
    for path in sorted(self._workdir.glob('events.out.tfevents.*')):
      if str(path) not in self._loaders:
        self._loaders[str(path)] = event_file_loader.EventFileLoader(str(path))
      loader = self._loaders[str(path)]
      # A loader's Load() yields the events appended since its previous call.
      for event in loader.Load():
        for value in event.summary.value:
          if value.tag in self._WANTED:
            self._scores.setdefault(event.step, {})[value.tag] = float(
                tensor_util.make_ndarray(value.tensor))
    series: dict[str, dict[int, float]] = {}
    for step in sorted(self._scores):
      for name, margin in margins(self._scores[step]).items():
        series.setdefault(name, {})[step] = margin
    return series

