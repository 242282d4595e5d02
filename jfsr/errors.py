"""Errors that the command line reports as one line, without a traceback."""


class JfsrError(Exception):
  """Base class: something the user can fix; the message says how."""


class ConfigError(JfsrError, ValueError):
  """A config value is out of range or inconsistent with another."""


class WorkdirError(JfsrError):
  """The work directory cannot be used (missing parent, incompatible checkpoints)."""


class NonFiniteLossError(JfsrError, FloatingPointError):
  """A loss became NaN or infinite."""
