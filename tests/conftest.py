"""Test setup: 4 simulated CPU devices, fast compiles, absl flags parsed.

The environment variables are set before JAX is imported so that they also
reach the subprocesses that the end-to-end tests start.
"""

import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4').strip()
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import flags  # noqa: E402
import pytest  # noqa: E402

# grain's worker processes read absl flags; pytest never parses them.
flags.FLAGS.mark_as_parsed()


@pytest.fixture
def smoke_config():
  from jfsr import config_loading
  return config_loading.load_config('smoke')
