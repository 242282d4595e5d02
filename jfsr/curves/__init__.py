r"""Learning curves: the evaluated metrics of every step of a run, drawn as one PNG.

    python -m jfsr.curves --workdir DIR [--out FILE] [--table]

reads ``DIR/eval/<step>/metrics.json`` (written by ``python -m jfsr.evaluate`` or the
trainer's ``eval.every_steps``) and draws ``DIR/curves.png``:
PSNR and SSIM (the standard protocol solid, the paper's dotted), FID, and the
face-recognition accuracies (distance below 0.6 / 0.7 / 0.8, rank-1), each against
the training step, the model as lines with markers and bicubic as flat dashed lines
of the same colour (bicubic does not train: its value is the latest evaluation's); and,
from the run's TensorBoard events, how far each discriminator's mean score on real
faces stays above its score on the generator's (``jfsr.gan_balance``): a margin that
falls to about 0 is a discriminator that has stopped, and the metrics move with it.
Open markers are evaluations of the generator's moving average (``train.ema_decay``); a
grey vertical line marks the first evaluation of a run resumed as another config variant
(say, a lower learning rate), named at its top.
Every evaluation refreshes the file. ``--table`` also prints the same history as a
Markdown table (a column per step, bicubic last), for notes and READMEs.

    python -m jfsr.curves --gains test=DIR,training=DIR2,validation=DIR3 --out FILE [--table]

compares one run's evaluations on several sets of faces (a workdir, or the ``--out`` of
``python -m jfsr.evaluate`` on other faces): each set's gain over bicubic on the same faces,
in PSNR and SSIM, against the step. A gain that keeps rising on the training faces while it
stays flat on held-out ones is a run that has begun to learn its faces rather than faces.
"""

from __future__ import annotations

import json

from etils import epath

from jfsr import gan_balance

PANELS = (
    ('PSNR (dB)', (('psnr', 'standard'), ('paper_psnr', "paper's protocol"))),
    ('SSIM', (('ssim', 'standard'), ('paper_ssim', "paper's protocol"))),
    ('FID (TF-Inception, lower is better)', (('fid', 'FID'),)),
    ('face recognition', (('id_acc_d60', 'accepted, d < 0.6'), ('id_acc_d70', 'd < 0.7'),
                          ('id_acc_d80', 'd < 0.8'), ('id_rank1', 'rank-1'))),
)


def read_history(workdir) -> dict[int, dict]:
  """``{step: metrics.json}`` for every evaluated step of ``workdir``, in step order."""
  eval_dir = epath.Path(workdir) / 'eval'
  history = {}
  if eval_dir.is_dir():
    for path in eval_dir.iterdir():
      record = path / 'metrics.json'
      if path.name.isdigit() and record.exists():
        history[int(path.name)] = json.loads(record.read_text())
  return dict(sorted(history.items()))


# Rows of the Markdown table: (metrics.json key, row label, format).
TABLE_ROWS = (
    ('psnr', 'PSNR', '{:.2f}'), ('ssim', 'SSIM', '{:.3f}'),
    ('paper_psnr', "PSNR (paper's protocol)", '{:.2f}'),
    ('paper_ssim', "SSIM (paper's protocol)", '{:.3f}'), ('fid', 'FID', '{:.1f}'),
    ('id_distance', 'FaceNet distance', '{:.3f}'), ('id_rank1', 'rank-1', '{:.2f}'),
    ('id_acc_d60', 'accepted, d < 0.6', '{:.2f}'),
)


def averaged(record: dict) -> bool:
  """Whether an evaluation scored the generator's moving average."""
  return record.get('generator') == 'average'


def variant_changes(history: dict[int, dict]) -> list[tuple[int, str]]:
  """``(step, variant)`` of each evaluation whose config variant differs from the one
  before it (a run resumed as another variant); empty for a run of one variant."""
  steps = list(history)
  return [(step, history[step].get('variant', '?')) for before, step in zip(steps, steps[1:])
          if history[step].get('variant') != history[before].get('variant')]


def markdown_table(history: dict[int, dict]) -> str:
  """``history`` (as :func:`read_history` gives it) as a Markdown table: a row per metric
  the latest evaluation has, a column per step, and bicubic's latest value last; first
  rows name each step's config variant, where the run changed it, and which generator it
  scored, where some steps scored the generator's moving average."""
  steps = list(history)
  latest = history[steps[-1]]['methods']
  lines = ['| step | ' + ' | '.join(map(str, steps)) + ' | bicubic |',
           '|---|' + '---|' * (len(steps) + 1)]
  if variant_changes(history):
    lines.append('| variant | ' + ' | '.join(history[s].get('variant', '?') for s in steps)
                 + ' |  |')
  if any(averaged(history[s]) for s in steps):
    lines.append('| generator | ' + ' | '.join('average' if averaged(history[s]) else 'trained'
                                               for s in steps) + ' |  |')
  for key, label, fmt in TABLE_ROWS:
    if key not in latest['model']:
      continue
    cells = [history[s]['methods']['model'].get(key) for s in steps] + [latest['bicubic'][key]]
    lines.append(f'| {label} | ' + ' | '.join('' if v is None else fmt.format(v) for v in cells)
                 + ' |')
  return '\n'.join(lines)


def draw(workdir, out=None, margin_reader: gan_balance.MarginReader | None = None,
         overwrite: bool = True) -> epath.Path | None:
  """Draws the curves of ``workdir`` to ``out`` (default ``workdir/curves.png``, redrawn at
  each evaluation); returns the path, or None when nothing has been evaluated yet. The
  discriminators' margins come from ``margin_reader`` when given (a trainer keeps one), else
  from reading the workdir's events. Without ``overwrite`` an existing ``out`` is refused
  (:class:`jfsr.files.OutputExistsError`)."""
  plt = _pyplot()
  history = read_history(workdir)
  if not history:
    return None
  steps = list(history)
  latest = history[steps[-1]]
  panels = [(title, [(k, label) for k, label in series if k in latest['methods']['model']])
            for title, series in PANELS]
  panels = [p for p in panels if p[1]]
  balance = (margin_reader or gan_balance.MarginReader(workdir)).read()
  count = len(panels) + bool(balance)
  figure, axes = plt.subplots(1, count, figsize=(4.2 * count, 3.6), squeeze=False)
  if balance:
    _draw_margins(axes[0][-1], balance)
  for axis, (title, series) in zip(axes[0], panels):
    for index, (key, label) in enumerate(series):
      colour = f'C{index}'
      style = ':' if key.startswith('paper_') else '-'
      values = [history[s]['methods']['model'].get(key, float('nan')) for s in steps]
      axis.plot(steps, values, style, color=colour, label=f'model, {label}')
      for hollow in (False, True):
        points = [(s, v) for s, v in zip(steps, values) if averaged(history[s]) == hollow]
        if points:
          axis.plot(*zip(*points), 'o', markersize=3, color=colour,
                    markerfacecolor='none' if hollow else colour)
      axis.axhline(latest['methods']['bicubic'][key], linestyle='--', linewidth=1, color=colour,
                   label=f'bicubic, {label}')
    for step, variant in variant_changes(history):
      axis.axvline(step, color='grey', linewidth=0.8)
      axis.text(step, 1.0, f' {variant}', transform=axis.get_xaxis_transform(), fontsize=6,
                color='grey', va='top', rotation=90)
    axis.set_title(title)
    axis.set_xlabel('training step')
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
  title = (f'{epath.Path(workdir).name}: {latest.get("num_images", "?")} test faces, '
           f'variant {latest.get("variant", "?")}')
  if any(averaged(history[s]) for s in steps):
    title += "; open markers: the generator's moving average"
  figure.suptitle(title, fontsize=10)
  return _save(figure, epath.Path(out) if out else epath.Path(workdir) / 'curves.png',
               overwrite=overwrite)


def _draw_margins(axis, balance: dict[str, dict[int, float]]) -> None:
  """Each discriminator's margin (mean real score - mean fake score) against the step."""
  for index, (name, series) in enumerate(balance.items()):
    axis.plot(list(series), list(series.values()), '-', linewidth=0.8, color=f'C{index}',
              label=f'{name} D')
  axis.axhspan(-1, gan_balance.LOST_BELOW, color='grey', alpha=0.15,
               label='no longer tells them apart')
  axis.set_ylim(-0.1, 1.1)
  axis.set_title('discriminators: real - fake score')
  axis.set_xlabel('training step')
  axis.grid(alpha=0.3)
  axis.legend(fontsize=7)


def _pyplot():
  """matplotlib's pyplot, drawing off-screen (no display is needed)."""
  import matplotlib
  matplotlib.use('Agg')
  from matplotlib import pyplot
  return pyplot


def _save(figure, out: epath.Path, overwrite: bool = True) -> epath.Path:
  """Writes ``figure`` to ``out`` as a PNG and frees it: a bucket path as it is, a local one
  through :func:`jfsr.files.write_atomically`."""
  import io
  from jfsr import files
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format='png', dpi=110)
  _pyplot().close(figure)
  files.write_data(out, buffer.getvalue(), overwrite)
  return out


GAIN_METRICS = (('psnr', 'PSNR gain over bicubic (dB)', '{:+.2f}'),
                ('ssim', 'SSIM gain over bicubic', '{:+.3f}'))


def gains(history: dict[int, dict], key: str) -> dict[int, float]:
  """``{step: model - bicubic}`` of metric ``key``, each against the bicubic of its own
  evaluation (the same faces, degraded the same way)."""
  return {step: record['methods']['model'][key] - record['methods']['bicubic'][key]
          for step, record in history.items()}


def parse_sets(text: str) -> dict[str, str]:
  """``'test=DIR,training=DIR2'`` -> ``{'test': 'DIR', 'training': 'DIR2'}``."""
  sets = {}
  for item in filter(None, text.split(',')):
    label, sep, path = item.partition('=')
    if not sep or not label or not path:
      raise ValueError(f'--gains takes LABEL=DIR pairs separated by commas, got {item!r}')
    sets[label] = path
  return sets


def gains_table(histories: dict[str, dict[int, dict]]) -> str:
  """The gains of :func:`draw_gains` as a Markdown table: a row per set and metric, a column
  per step that any set evaluated (blank where a set did not)."""
  steps = sorted({step for history in histories.values() for step in history})
  lines = ['| faces | gain in | ' + ' | '.join(map(str, steps)) + ' |',
           '|---|---|' + '---|' * len(steps)]
  for key, _, fmt in GAIN_METRICS:
    for label, history in histories.items():
      values = gains(history, key)
      lines.append(f'| {label} | {key.upper()} | '
                   + ' | '.join(fmt.format(values[s]) if s in values else '' for s in steps)
                   + ' |')
  return '\n'.join(lines)


def draw_gains(histories: dict[str, dict[int, dict]], out, overwrite: bool = True
               ) -> epath.Path:
  """Draws each set's gain over bicubic (PSNR, SSIM) against the step to ``out``."""
  figure, axes = _pyplot().subplots(1, len(GAIN_METRICS), figsize=(5.2 * len(GAIN_METRICS), 3.6))
  for axis, (key, title, _) in zip(axes, GAIN_METRICS):
    for index, (label, history) in enumerate(histories.items()):
      values = gains(history, key)
      count = next(iter(history.values())).get('num_images', '?')
      axis.plot(list(values), list(values.values()), '-o', markersize=3, color=f'C{index}',
                label=f'{label} ({count} faces)')
    axis.axhline(0, color='grey', linewidth=0.8)
    axis.set_title(title)
    axis.set_xlabel('training step')
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
  return _save(figure, epath.Path(out), overwrite=overwrite)
