"""Discriminator margins: computed from the logged scores, watched, and read back from a
run's TensorBoard events."""

import pytest

from jfsr import curves, evaluate, gan_balance


def _scores(global_real, global_fake, local_real=None, local_fake=None):
  summary = {'score_global_real': global_real, 'score_global_fake': global_fake,
             'g_loss': 30.0}
  if local_real is not None:
    summary.update(score_local_real=local_real, score_local_fake=local_fake)
  return summary


def test_margins_are_real_minus_fake_for_the_discriminators_logged():
  assert gan_balance.margins(_scores(0.8, 0.25)) == {'global': pytest.approx(0.55)}
  assert gan_balance.margins(_scores(0.5, 0.5, 0.97, 0.01)) == {
      'global': pytest.approx(0.0), 'local': pytest.approx(0.96)}
  assert gan_balance.margins({'g_loss': 1.0}) == {}


def test_the_watch_reports_a_discriminator_that_stops_and_starts_again():
  watch = gan_balance.MarginWatch()
  said = []
  # (global real, global fake): a run's start (margins near 0: not news), the global D
  # winning, a dip that is not a collapse, the collapse (what cpu_x16 did at step 5800),
  # lower still (said once), a partial recovery, a full one. The local D wins throughout and is never named.
  for step, (real, fake) in enumerate([(0.5, 0.48), (0.52, 0.5), (0.85, 0.2), (0.6, 0.4),
                                       (0.55, 0.47), (0.52, 0.5), (0.6, 0.4), (0.7, 0.3)]):
    said += [(step, m) for m in watch.update(step, _scores(real, fake, 0.99, 0.01))]
  assert [(step, 'no longer' in m, 'again' in m) for step, m in said] == [
      (4, True, False), (7, False, True)]
  assert 'global discriminator' in said[0][1] and 'real 0.55, fake 0.47' in said[0][1]
  # A non-finite score says nothing (the trainer's finiteness check reports it).
  assert watch.update(8, _scores(float('nan'), 0.0)) == []


def test_margins_are_read_back_from_the_event_files_of_a_resumed_run(tmp_path):
  # The trainer's own writer; a first process logs steps 25-75, is killed, and the resumed
  # one (a later event file) logs step 75 again and goes on: its value of 75 wins.
  first = evaluate.tensorboard_writer(tmp_path)
  for step, real, fake in [(25, 0.6, 0.3), (50, 0.8, 0.2), (75, 0.9, 0.9)]:
    first.write_scalars(step, {**_scores(real, fake), 'learning_rate': 2e-4})
  first.close()
  second = evaluate.tensorboard_writer(tmp_path)
  for step, real, fake in [(75, 0.7, 0.1), (100, 0.5, 0.45)]:  # the local D joins at 75
    second.write_scalars(step, _scores(real, fake, 0.75, 0.25))
  second.close()
  assert len(list(tmp_path.glob('events.out.tfevents.*'))) == 2
  balance = gan_balance.MarginReader(tmp_path).read()
  assert balance['global'] == pytest.approx({25: 0.3, 50: 0.6, 75: 0.6, 100: 0.05})
  assert balance['local'] == pytest.approx({75: 0.5, 100: 0.5})
  # The curves gain a panel for them; an evaluation folder without scores has none.
  (tmp_path / 'eval' / '100').mkdir(parents=True)
  (tmp_path / 'eval' / '100' / 'metrics.json').write_text(
      '{"methods": {"model": {"psnr": 21.0}, "bicubic": {"psnr": 20.0}}}')
  assert curves.draw(tmp_path).exists()
  assert gan_balance.MarginReader(tmp_path / 'eval').read() == {}


def test_a_kept_reader_parses_only_what_was_written_since_its_last_read(tmp_path, monkeypatch):
  # The trainer keeps one reader and redraws the curves after every evaluation: each read
  # must cost the new events only, yet give what a fresh reader of the whole workdir gives.
  from tensorboard.util import tensor_util
  parsed = []
  make_ndarray = tensor_util.make_ndarray
  monkeypatch.setattr(tensor_util, 'make_ndarray', lambda t: parsed.append(1) or make_ndarray(t))
  reader = gan_balance.MarginReader(tmp_path)
  assert reader.read() == {}
  writer = evaluate.tensorboard_writer(tmp_path)
  for step, real, fake in [(25, 0.6, 0.3), (50, 0.8, 0.2)]:
    writer.write_scalars(step, _scores(real, fake))
  writer.flush()
  assert reader.read() == {'global': pytest.approx({25: 0.3, 50: 0.6})}
  assert len(parsed) == 4  # two scores of two steps
  writer.write_scalars(75, _scores(0.9, 0.8, 0.7, 0.2))
  writer.close()
  assert reader.read() == {'global': pytest.approx({25: 0.3, 50: 0.6, 75: 0.1}),
                           'local': pytest.approx({75: 0.5})}
  assert len(parsed) == 4 + 4  # step 75's four scores, nothing read twice
  # A file that appears later (a resumed process) is picked up, and its step 75 wins.
  resumed = evaluate.tensorboard_writer(tmp_path)
  resumed.write_scalars(75, _scores(0.9, 0.3, 0.7, 0.2))
  resumed.close()
  parsed.clear()
  kept = reader.read()
  assert len(parsed) == 4
  assert kept == gan_balance.MarginReader(tmp_path).read()
  assert kept['global'][75] == pytest.approx(0.6)
