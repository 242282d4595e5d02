"""The web demo's server: one page, one ``Restorer``, one restoration at a time.

Built on the standard library's threaded HTTP server, so the demo adds no dependency and
its page makes no request beyond this server (nothing is fetched from the internet).

Only its user drives it: a request whose ``Host`` is not the server's own name (DNS
rebinding: another site's name pointed at this address) or that comes from another page
(an ``Origin`` other than this server's, or a browser's ``Sec-Fetch-Site: cross-site``) is
refused with 403; every connection has a time limit, and at most
:data:`MAX_CONNECTIONS` are served at once (the rest are closed at once).

Routes:
  ``GET /``                  the page (``page.html``)
  ``GET /info``              the model and the limits, as JSON
  ``POST /restore``          the file as the request body (its name in ``X-Filename``,
                             ``?force=1`` to restore large faces too, ``?fidelity=F``
                             from 0 to 1 as ``jfsr.restore --fidelity``); answers JSON
  ``GET /download/TOKEN``    a restored video
"""

from __future__ import annotations

import base64
import dataclasses
import http.server
import io
import json
import secrets
import shutil
import tempfile
import threading
import urllib.parse
from pathlib import Path

import numpy as np
from absl import logging
from PIL import UnidentifiedImageError

from jfsr import files
from jfsr.restoration.restorer import FrameTooLargeError, Restorer
from jfsr.restoration.summary import Summary, describe_faces

PAGE = Path(__file__).with_name('page.html')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
KEPT_VIDEOS = 4  # restored videos kept for download; older ones are deleted
DRAINED_BYTES = 1 << 30  # an oversized upload's body is read and dropped up to this size
CONNECTION_TIMEOUT_S = 60  # a connection that sends nothing for this long is closed
MAX_CONNECTIONS = 16
LOOPBACK_NAMES = ('127.0.0.1', 'localhost', '[::1]', '::1')


class UploadError(ValueError):
  """An upload the demo refuses; its message is shown on the page."""


def png_data_url(image: np.ndarray) -> str:
  return 'data:image/png;base64,' + base64.b64encode(files.encoded(image)).decode('ascii')


@dataclasses.dataclass
class DemoApp:
  """The loaded model and the demo's limits; :meth:`restore` answers one upload."""
  restorer: Restorer
  model_name: str
  max_upload_bytes: int = 20_000_000
  max_video_frames: int = 300

  def __post_init__(self):
    self._lock = threading.Lock()  # one restoration at a time; the page stays served
    self._videos = Path(tempfile.mkdtemp(prefix='jfsr-demo-'))
    self._tokens: list[str] = []

  def info(self) -> dict:
    r = self.restorer
    return {'model': self.model_name, 'step': r.step, 'lr_size': r.lr_size,
            'hr_size': r.hr_size, 'models': [{'name': g.name, 'step': g.step, 'lr_size': g.lr_size,
                                              'hr_size': g.hr_size} for g in r.generators],
            'max_upload_mb': self.max_upload_bytes / 1e6,
            'max_video_frames': self.max_video_frames}

  def restore(self, name: str, data: bytes, force: bool = False,
              fidelity: float | None = None) -> dict:
    """The answer to one upload: the panels as PNG data URLs, what happened to each face,
    and where to download the result; ``fidelity`` (0 to 1) replaces the restorer's for
    this upload. Raises :class:`UploadError` for what it refuses."""
    if fidelity is not None and not 0 <= fidelity <= 1:
      raise UploadError(f'fidelity {fidelity} is not in [0, 1]')
    if not data:
      raise UploadError('the file is empty')
    if len(data) > self.max_upload_bytes:
      raise UploadError(f'the file is {len(data) / 1e6:.1f} MB; the limit is '
                        f'{self.max_upload_bytes / 1e6:.0f} MB')
    restorer = self.restorer if fidelity is None else self.restorer.with_options(
        fidelity=fidelity)
    with self._lock:
      if Path(name).suffix.lower() in VIDEO_SUFFIXES:
        return self._restore_video(restorer, name, data, force)
      return self._restore_image(restorer, name, data, force)

  def _restore_image(self, restorer: Restorer, name: str, data: bytes, force: bool) -> dict:
    from jfsr.data.images import image_size, read_rgb
    from jfsr.restoration.jpeg_grid import grid_of
    try:
      width, height = image_size(io.BytesIO(data))
      if height * width > restorer.options.max_output_pixels:
        raise UploadError(f'{width}x{height} is above the demo\'s output bound of '
                          f'{restorer.options.max_output_pixels / 1e6:.0f} MP')
      frame, grid = read_rgb(io.BytesIO(data)), grid_of(io.BytesIO(data))
    except UnidentifiedImageError:
      raise UploadError(f'{name} is not an image (nor a video: {", ".join(VIDEO_SUFFIXES)}) '
                        'this demo can read') from None
    except UploadError:
      raise
    except Exception as error:  # PIL raises many kinds for a damaged or hostile file
      raise UploadError(f'{name} cannot be read as an image ({error})') from None
    try:
      result, = restorer.restore_frames([frame], force=force, compare=True, jpeg_grids=[grid])
    except FrameTooLargeError as error:
      raise UploadError(str(error)) from None
    summary = Summary()
    summary.add(result, restorer.model_names())
    stem = Path(name).stem or 'restored'
    return self._answer(result, summary, kind='image', download=png_data_url(result.image),
                        download_name=f'{stem}_restored.png')

  def _restore_video(self, restorer: Restorer, name: str, data: bytes, force: bool) -> dict:
    from jfsr.restoration import video
    token = secrets.token_hex(8)
    folder = self._videos / token
    folder.mkdir()
    source = folder / f'input{Path(name).suffix.lower()}'
    files.write_data(source, data)
    try:
      if video.count_frames(source, self.max_video_frames) > self.max_video_frames:
        raise UploadError(f'{name} has more than {self.max_video_frames} frames, the longest '
                          'video the demo takes (the command line takes any length)')
      summary = Summary()
      restored = video.restore_video(restorer, source, folder / 'restored.mp4', summary,
                                     force=force, compare=False)
    except (video.VideoError, FrameTooLargeError) as error:
      shutil.rmtree(folder, ignore_errors=True)
      raise UploadError(str(error).replace(str(source), name)) from None
    except UploadError:
      shutil.rmtree(folder, ignore_errors=True)
      raise
    except BaseException:
      shutil.rmtree(folder, ignore_errors=True)
      raise
    source.unlink()
    self._keep(token)
    return self._answer(restored.first, summary, kind='video', download=f'/download/{token}',
                        download_name=f'{Path(name).stem or "restored"}_restored.mp4')

  def _keep(self, token: str) -> None:
    self._tokens.append(token)
    while len(self._tokens) > KEPT_VIDEOS:
      shutil.rmtree(self._videos / self._tokens.pop(0), ignore_errors=True)

  def video_file(self, token: str) -> Path | None:
    path = self._videos / token / 'restored.mp4'
    return path if token in self._tokens and path.is_file() else None

  def _answer(self, result, summary: Summary, kind: str, download: str,
              download_name: str) -> dict:
    panels = {'restored': png_data_url(result.image)}
    if result.compare is not None:
      seen, bicubic, _ = np.split(result.compare, 3, axis=1)
      panels.update(model_input=png_data_url(seen), bicubic=png_data_url(bicubic))
    return {'kind': kind, 'scale': result.scale,
            'faces': describe_faces(result, self.restorer.model_names()),
            'summary': summary.line().replace('--force restores them',
                                              'tick "restore large faces too"'), 'left': summary.left, 'restored_faces': summary.restored,
            'panels': panels, 'download': download, 'download_name': download_name}

  def close(self) -> None:
    shutil.rmtree(self._videos, ignore_errors=True)


def same_origin(headers, names: tuple[str, ...], port: int) -> str | None:
  """Why a request is not this server's own page's (``None`` when it is): its ``Host`` must
  be one of ``names`` at ``port`` (empty ``names``: any), and an ``Origin`` or
  ``Sec-Fetch-Site`` header, where the browser sent one, must say the same origin."""
  host = (headers.get('Host') or '').strip().lower()
  if names and host not in {f'{name}:{port}' for name in names}:
    return f'this server answers to {names[0]}:{port}, not to {host or "a request without Host"}'
  origin = headers.get('Origin')
  if origin is not None and origin.lower() != f'http://{host}':
    return f'requests from other pages ({origin}) are refused'
  if headers.get('Sec-Fetch-Site', 'same-origin') not in ('same-origin', 'none'):
    return 'requests from other sites are refused'
  return None


class JsonHandler(http.server.BaseHTTPRequestHandler):
  """What the demo's handler answers with: bodies of a known length, JSON, no caching, the
  log through absl."""
  server_version = 'jfsr-demo'

  def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
    self.send_response(status)
    self.send_header('Content-Type', content_type)
    self.send_header('Content-Length', str(len(body)))
    self.send_header('Cache-Control', 'no-store')
    for key, value in (headers or {}).items():
      self.send_header(key, value)
    self.end_headers()
    self.wfile.write(body)

  def _json(self, status: int, value: dict) -> None:
    self._send(status, json.dumps(value).encode(), 'application/json')

  def _content_length(self) -> int:
    """The request's declared body length, or -1 where it is not a number."""
    try:
      return int(self.headers.get('Content-Length') or 0)
    except ValueError:
      return -1

  def _drop_body(self, length: int) -> None:
    while length > 0:
      chunk = self.rfile.read(min(1 << 20, length))
      if not chunk:  # the client stopped sending
        return
      length -= len(chunk)

  def log_message(self, format, *args):  # noqa: A002 (the standard library's signature)
    logging.info('%s %s', self.address_string(), format % args)


def make_handler(app: DemoApp, names: tuple[str, ...] = LOOPBACK_NAMES
                 ) -> type[http.server.BaseHTTPRequestHandler]:
  """A request handler class bound to ``app``, answering requests addressed to ``names``
  at the server's port (see :func:`same_origin`)."""

  class Handler(JsonHandler):
    timeout = CONNECTION_TIMEOUT_S  # socket timeout: a stalled upload does not hold a thread
    def _refused(self) -> bool:
      """Answers 403 (the body, if any, read and dropped first) to a request that is not
      this server's own page's."""
      reason = same_origin(self.headers, names, self.server.server_address[1])
      if reason is None:
        return False
      length = self._content_length()
      if 0 < length <= DRAINED_BYTES:
        self._drop_body(length)
      self.close_connection = True
      self._json(403, {'error': reason})
      return True

    def do_GET(self):  # noqa: N802 (the standard library's name)
      if self._refused():
        return
      path = urllib.parse.urlparse(self.path).path
      if path == '/':
        self._send(200, PAGE.read_bytes(), 'text/html; charset=utf-8')
      elif path == '/info':
        self._json(200, app.info())
      elif path.startswith('/download/'):
        video = app.video_file(path.rsplit('/', 1)[-1])
        if video is None:
          self._json(404, {'error': 'no such result (only the last few videos are kept)'})
        else:
          self._send(200, video.read_bytes(), 'video/mp4',
                     {'Content-Disposition': 'attachment; filename="restored.mp4"'})
      else:
        self._json(404, {'error': f'no page at {path}'})

    def do_POST(self):  # noqa: N802
      if self._refused():
        return
      url = urllib.parse.urlparse(self.path)
      if url.path != '/restore':
        self._json(404, {'error': f'no action at {url.path}'})
        return
      length = self._content_length()
      if length < 0:
        self._json(400, {'error': 'the upload has no valid length'})
        return
      if length > app.max_upload_bytes:
        if length <= DRAINED_BYTES:  # else the browser sees a reset, not this message
          self._drop_body(length)
        self.close_connection = True
        self._json(413, {'error': f'the file is {length / 1e6:.1f} MB; the limit is '
                                  f'{app.max_upload_bytes / 1e6:.0f} MB'})
        return
      data = self.rfile.read(length)
      name = urllib.parse.unquote(self.headers.get('X-Filename') or 'upload')
      query = urllib.parse.parse_qs(url.query)
      force = query.get('force') == ['1']
      try:
        fidelity = float(query['fidelity'][0]) if 'fidelity' in query else None
      except ValueError:
        self._json(400, {'error': f'fidelity {query["fidelity"][0]!r} is not a number'})
        return
      try:
        self._json(200, app.restore(Path(name).name, data, force, fidelity))
      except UploadError as error:
        self._json(400, {'error': str(error)})
      except Exception as error:  # the page says what failed; the server goes on
        logging.exception('restoring %s failed', name)
        self._json(500, {'error': f'restoring {name} failed: {error}'})

  return Handler


class BoundedServer(http.server.ThreadingHTTPServer):
  """A threaded HTTP server that serves at most :data:`MAX_CONNECTIONS` connections at once
  (the next ones are closed unanswered) and logs a dropped connection in one line."""
  daemon_threads = True

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

  def process_request(self, request, client_address):
    if not self._slots.acquire(blocking=False):
      logging.warning('%s: more than %d connections at once; closed', client_address[0],
                      MAX_CONNECTIONS)
      self.shutdown_request(request)
      return
    super().process_request(request, client_address)

  def process_request_thread(self, request, client_address):
    try:
      super().process_request_thread(request, client_address)
    finally:
      self._slots.release()

  def handle_error(self, request, client_address):
    import sys
    logging.info('%s: connection dropped (%s)', client_address[0], sys.exc_info()[1])


def make_server(app: DemoApp, host: str = '127.0.0.1', port: int = 7860
                ) -> http.server.ThreadingHTTPServer:
  """The demo's HTTP server, bound (port 0: a free one) but not yet serving. Bound to a
  loopback address it answers only to this computer's names; bound to another address,
  to any name, and still only to its own page."""
  names = LOOPBACK_NAMES if host in LOOPBACK_NAMES else ()
  server = BoundedServer((host, port), make_handler(app, names))
  if not names:
    logging.warning('the demo listens on %s: anyone who can reach this computer can use it '
                    '(it has no authentication); --host 127.0.0.1 keeps it to this computer',
                    host)
  return server
