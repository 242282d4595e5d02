"""The ``jfsr-demo`` command (also ``python -m jfsr.demo``): :mod:`jfsr.demo`."""

from __future__ import annotations

from absl import flags, logging

from jfsr import cli
from jfsr.restoration import option_flags

FLAGS = flags.FLAGS


def main(argv) -> None:
  from jfsr.demo.server import DemoApp, make_server
  from jfsr.errors import JfsrError
  from jfsr.inference import pick_device
  from jfsr.restoration.restorer import Restorer
  if len(argv) > 1:
    cli.usage_error(f'unexpected arguments: {" ".join(argv[1:])}')
  try:
    chosen = option_flags.from_flags()
    restorer = Restorer.load(FLAGS.model, FLAGS.checkpoint, FLAGS.onnx,
                             device=pick_device(chosen.device), options=chosen)
    restorer.detector  # noqa: B018 (made now, so a missing detector fails before serving)
    named = FLAGS.model or FLAGS.onnx or FLAGS.checkpoint
    demo = DemoApp(restorer, str(named) if named else ' + '.join(restorer.model_names()),
                   max_upload_bytes=int(FLAGS.max_upload_mb * 1e6),
                   max_video_frames=FLAGS.max_video_frames)
    server = make_server(demo, FLAGS.host, FLAGS.port)
  except (JfsrError, ValueError, OSError) as error:
    cli.fail(error)
  host, port = server.server_address[:2]
  logging.info('faces found by %s; model %s', restorer.detector.kind, demo.model_name)
  print(f'jfsr demo: http://{host}:{port}/ (Ctrl-C stops it)', flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    print('stopped')
  finally:
    server.server_close()
    demo.close()


def run() -> None:
  """The ``jfsr-demo`` command (also ``python -m jfsr.demo``)."""
  cli.define_model_flags(onnx=True)  # neither given: the default models (module docstring)
  flags.adopt_module_key_flags(cli)  # listed in this command's --help
  flags.DEFINE_string('host', '127.0.0.1', 'address to listen on (0.0.0.0: every interface, '
                      'reachable from other computers)')
  flags.DEFINE_integer('port', 7860, 'port to listen on (0: a free one, printed)', lower_bound=0,
                       upper_bound=65535)
  flags.DEFINE_float('max_upload_mb', 20.0, 'largest file accepted, in MB', lower_bound=0.001)
  flags.DEFINE_integer('max_video_frames', 300, 'longest video accepted, in frames', lower_bound=1)
  option_flags.define_flags(max_output_mp=16.0)  # a web page's results stay small
  flags.adopt_module_key_flags(option_flags)
  cli.run(main, __name__, accelerated=True)


if __name__ == '__main__':
  run()
