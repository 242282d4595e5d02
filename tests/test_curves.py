"""The learning-curve table: every evaluated step of a workdir, read back and laid out."""

import json

import pytest

from jfsr import curves


def _write(workdir, step, model, bicubic, **extra):
  folder = workdir / 'eval' / str(step)
  folder.mkdir(parents=True)
  (folder / 'metrics.json').write_text(json.dumps(
      {'step': step, 'methods': {'model': model, 'bicubic': bicubic}, **extra}))


def _keep_figures(monkeypatch) -> list:
  """The figures curves draws, kept open instead of written and closed."""
  figures = []
  monkeypatch.setattr(curves, '_save',
                      lambda figure, out, **_: figures.append(figure) or out)
  return figures


def _line(axis, label):
  (line,) = [l for l in axis.get_lines() if l.get_label() == label]
  return line


def test_markdown_table_lists_each_step_and_the_latest_bicubic(tmp_path):
  # Steps written out of order, and a metric (fid) that only the later evaluation has.
  _write(tmp_path, 500, {'psnr': 21.004, 'ssim': 0.5}, {'psnr': 20.0, 'ssim': 0.49})
  _write(tmp_path, 250, {'psnr': 19.456, 'ssim': 0.4}, {'psnr': 20.0, 'ssim': 0.49})
  _write(tmp_path, 750, {'psnr': 22.0, 'ssim': 0.6125, 'fid': 150.04},
         {'psnr': 20.5, 'ssim': 0.55, 'fid': 300.0})
  (tmp_path / 'eval' / 'notes').mkdir()  # not a step: ignored
  history = curves.read_history(tmp_path)
  assert list(history) == [250, 500, 750]
  assert curves.markdown_table(history) == '\n'.join([
      '| step | 250 | 500 | 750 | bicubic |',
      '|---|---|---|---|---|',
      '| PSNR | 19.46 | 21.00 | 22.00 | 20.50 |',
      '| SSIM | 0.400 | 0.500 | 0.613 | 0.550 |',
      '| FID |  |  | 150.0 | 300.0 |',
  ])


def test_steps_that_scored_the_moving_average_are_marked(tmp_path, monkeypatch):
  # An older evaluation has no 'generator' field: the trained generator.
  _write(tmp_path, 250, {'psnr': 19.0}, {'psnr': 20.0})
  _write(tmp_path, 500, {'psnr': 21.0}, {'psnr': 20.0}, generator='trained')
  _write(tmp_path, 750, {'psnr': 22.0}, {'psnr': 20.0}, generator='average')
  assert curves.markdown_table(curves.read_history(tmp_path)).splitlines()[2:4] == [
      '| generator | trained | trained | average |  |',
      '| PSNR | 19.00 | 21.00 | 22.00 | 20.00 |']
  figures = _keep_figures(monkeypatch)
  curves.draw(tmp_path)
  (axis,) = figures[0].axes  # one metric: one panel (no discriminator events here)
  model = _line(axis, 'model, standard')
  assert list(model.get_xdata()) == [250, 500, 750] and list(model.get_ydata()) == [19, 21, 22]
  assert list(_line(axis, 'bicubic, standard').get_ydata()) == [20, 20]
  markers = [l for l in axis.get_lines() if l.get_marker() == 'o']
  hollow = [l for l in markers if l.get_markerfacecolor() == 'none']
  assert [list(l.get_xdata()) for l in hollow] == [[750]]  # the average, open
  assert sorted(x for l in markers for x in l.get_xdata()) == [250, 500, 750]


def test_a_run_resumed_as_another_variant_says_where(tmp_path, monkeypatch):
  _write(tmp_path, 250, {'psnr': 19.0}, {'psnr': 20.0}, variant='cpu_x16')
  _write(tmp_path, 500, {'psnr': 21.0}, {'psnr': 20.0}, variant='cpu_x16')
  _write(tmp_path, 750, {'psnr': 22.0}, {'psnr': 20.0}, variant='cpu_x16_late')
  history = curves.read_history(tmp_path)
  assert curves.variant_changes(history) == [(750, 'cpu_x16_late')]
  assert curves.markdown_table(history).splitlines()[2] == \
      '| variant | cpu_x16 | cpu_x16 | cpu_x16_late |  |'
  figures = _keep_figures(monkeypatch)
  curves.draw(tmp_path)
  (axis,) = figures[0].axes
  vertical = [l for l in axis.get_lines() if list(l.get_xdata()) == [750, 750]]
  assert len(vertical) == 1 and vertical[0].get_color() == 'grey'
  assert [t.get_text().strip() for t in axis.texts] == ['cpu_x16_late']
  # One variant throughout: no such row.
  (tmp_path / 'eval' / '750' / 'metrics.json').unlink()
  (tmp_path / 'eval' / '750').rmdir()
  assert 'variant' not in curves.markdown_table(curves.read_history(tmp_path))


def test_gains_over_bicubic_compare_sets_of_faces_step_by_step(tmp_path):
  """Each gain is taken against the bicubic of its own evaluation, and a set that skipped a
  step leaves its cell blank."""
  train, held_out = tmp_path / 'train', tmp_path / 'held_out'
  _write(train, 500, {'psnr': 22.0, 'ssim': 0.60}, {'psnr': 21.0, 'ssim': 0.55})
  _write(train, 1000, {'psnr': 22.5, 'ssim': 0.62}, {'psnr': 21.0, 'ssim': 0.55})
  _write(held_out, 1000, {'psnr': 21.75, 'ssim': 0.5}, {'psnr': 21.5, 'ssim': 0.51})
  sets = curves.parse_sets(f'training={train},validation={held_out}')
  assert sets == {'training': str(train), 'validation': str(held_out)}
  histories = {label: curves.read_history(path) for label, path in sets.items()}
  assert curves.gains_table(histories) == '\n'.join([
      '| faces | gain in | 500 | 1000 |',
      '|---|---|---|---|',
      '| training | PSNR | +1.00 | +1.50 |',
      '| validation | PSNR |  | +0.25 |',
      '| training | SSIM | +0.050 | +0.070 |',
      '| validation | SSIM |  | -0.010 |',
  ])
  assert curves.draw_gains(histories, tmp_path / 'gains.png').exists()


def test_gains_refuse_a_set_without_its_folder():
  with pytest.raises(ValueError, match='LABEL=DIR'):
    curves.parse_sets('training=/a,/b')
