"""Errors that the command line reports as one line, without a traceback."""


class JfsrError(Exception):
  """Base class: something the user can fix; the message says how.

  ``exit_at_once``: the command ends without Python's shutdown, whose clean-up of libraries
  still working in the background (a failed checkpoint read leaves orbax's threads behind)
  would print tracebacks under the one line.
  """
  exit_at_once = False


class ConfigError(JfsrError, ValueError):
  """A config value is out of range or inconsistent with another."""


class WorkdirError(JfsrError):
  """The work directory cannot be used (missing parent, incompatible checkpoints)."""


class NonFiniteLossError(JfsrError, FloatingPointError):
  """A loss became NaN or infinite."""
