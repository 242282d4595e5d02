"""``python -m jfsr.pretrained fetch NAME...`` / ``list``: manage the weight cache."""

from __future__ import annotations

import argparse
import sys

from jfsr.pretrained import cache


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m jfsr.pretrained', description=__doc__)
  sub = parser.add_subparsers(dest='command', required=True)
  fetch = sub.add_parser('fetch', help='download, verify and cache weight files')
  fetch.add_argument('names', nargs='+', choices=sorted(cache.ARTIFACTS))
  fetch.add_argument('--force', action='store_true', help='download again even if cached')
  sub.add_parser('list', help='show every known file and whether it is cached')
  args = parser.parse_args(argv)

  if args.command == 'list':
    for name, artifact in cache.ARTIFACTS.items():
      path = cache.cache_dir() / artifact.filename
      state = 'cached' if path.is_file() else 'missing'
      print(f'{name:14s} {state:8s} {path}  ({artifact.description})')
    return 0
  for name in args.names:
    try:
      print(f'{name}: {cache.fetch(name, force=args.force)}')
    except (OSError, RuntimeError, cache.ChecksumError) as error:
      print(f'{name}: failed: {error}', file=sys.stderr)
      return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
