"""The one way jfsr writes a user's file (jfsr.files): all or nothing, never through a link,
never over a file that appeared meanwhile unless told, short private names, and the
private folders of killed writers removed."""

import os
import subprocess
import sys

import pytest

from jfsr import files


def test_a_file_that_appears_meanwhile_is_not_replaced(tmp_path):
  target = tmp_path / 'result.png'

  def write(path):
    path.write_bytes(b'ours')
    target.write_bytes(b'another run')  # lands while ours is being written
  with pytest.raises(files.OutputExistsError, match='appeared'):
    files.write_atomically(target, write, overwrite=False)
  assert target.read_bytes() == b'another run'
  assert sorted(p.name for p in tmp_path.iterdir()) == ['result.png']


def test_overwrite_replaces_a_link_and_never_follows_it(tmp_path):
  precious = tmp_path / 'precious.jpg'
  precious.write_bytes(b'holiday')
  link = tmp_path / 'out.png'
  link.symlink_to(precious)
  with pytest.raises(files.OutputExistsError, match='a link'):
    files.check_new(link, overwrite=False)
  files.write_atomically(link, lambda path: path.write_bytes(b'plot'), overwrite=True)
  assert precious.read_bytes() == b'holiday'
  assert not link.is_symlink() and link.read_bytes() == b'plot'


def test_a_failed_write_leaves_nothing(tmp_path):
  def write(path):
    path.write_bytes(b'half')
    raise OSError('disk full')
  with pytest.raises(OSError, match='disk full'):
    files.write_atomically(tmp_path / 'r.png', write)
  assert list(tmp_path.iterdir()) == []


def test_long_names_fit(tmp_path):
  name = '顔' * 80 + '.png'  # 244 bytes: a private name built from it would pass 255
  files.write_atomically(tmp_path / name, lambda path: path.write_bytes(b'x'), overwrite=False)
  assert (tmp_path / name).read_bytes() == b'x'


def test_private_folders_of_dead_writers_are_removed(tmp_path):
  dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                        capture_output=True, text=True, check=True).stdout.strip()
  stale = tmp_path / f'.jfsr-{dead}-0.partial'
  alive = tmp_path / f'.jfsr-{os.getppid()}-0.partial'
  unrelated = tmp_path / '.jfsr-notes'
  for folder in (stale, alive, unrelated):
    folder.mkdir()
  files.write_atomically(tmp_path / 'r.png', lambda path: path.write_bytes(b'x'))
  assert not stale.exists() and alive.exists() and unrelated.exists()
