"""Test setup: 4 simulated CPU devices, fast compiles, absl flags parsed.

The environment variables are set before JAX is imported so that they also
reach the subprocesses that the end-to-end tests start.
"""

import os
import shutil
import tempfile

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4').strip()
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')
# One compilation cache for this test run's processes (per xdist worker: each imports this
# file), every compile kept: the end-to-end tests start ~40 trainers whose small jits
# (orbax's per-shape slices on each first save, the step itself) then compile once. A fresh
# folder, so no run depends on an earlier one.
OWN_CACHE = None
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  OWN_CACHE = os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='jfsr-tests-xla-')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import flags  # noqa: E402
import pytest  # noqa: E402

# grain's worker processes read absl flags; pytest never parses them.
flags.FLAGS.mark_as_parsed()


@pytest.fixture
def smoke_config():
  from jfsr import config_loading
  return config_loading.load_config('smoke')


def pytest_sessionfinish(session, exitstatus):
  if OWN_CACHE:
    shutil.rmtree(OWN_CACHE, ignore_errors=True)
