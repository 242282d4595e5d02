"""Errors that the command line reports as one line, without a traceback.

Exit statuses: 2 when the command line itself must change (:class:`UsageError`: a flag, an
option, a config value, a path that is not there), 1 when the command ran and failed
(:class:`JfsrError`: unreadable data, a broken checkpoint, a full disk), 130 when
interrupted.
"""


class JfsrError(Exception):
  """Base class: something the user can fix; the message says how.

  ``exit_at_once``: the command ends without Python's shutdown, whose clean-up of libraries
  still working in the background (a failed checkpoint read leaves orbax's threads behind)
  would print tracebacks under the one line.
  """
  exit_at_once = False
  exit_status = 1


class UsageError(JfsrError):
  """The command line asks for something that cannot be done as written; exit status 2."""
  exit_status = 2


class ConfigError(UsageError, ValueError):
  """A config value is out of range or inconsistent with another."""


class WorkdirError(JfsrError):
  """The work directory cannot be used (missing parent, incompatible checkpoints)."""


class NonFiniteLossError(JfsrError, FloatingPointError):
  """A loss became NaN or infinite."""
