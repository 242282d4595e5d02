r"""Draws docs/demo.png: the web demo's page after restoring a photo, in headless Chromium.

    python tools/demo_screenshot.py --out docs/demo.png

Starts ``python -m jfsr.demo`` on a free port, uploads scikit-image's ``astronaut`` (public
domain) shrunk until her face is about 19 pixels across, waits for the result and saves the
page. Needs the system's Chromium and chromedriver (Debian: ``chromium chromium-driver``)
and selenium (the ``[test]`` extra).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from skimage import data
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', default='docs/demo.png')
  parser.add_argument('--side', type=int, default=64, help='the photo\'s side in pixels')
  args = parser.parse_args()
  work = Path(tempfile.mkdtemp(prefix='jfsr-screenshot-'))
  photo = work / 'astronaut.png'
  Image.fromarray(data.astronaut()).resize((args.side, args.side),
                                           Image.Resampling.BICUBIC).save(photo)
  server = subprocess.Popen([sys.executable, '-m', 'jfsr.demo', '--port', '0'], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
  options = webdriver.ChromeOptions()
  options.binary_location = shutil.which('chromium')
  for argument in ('--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
                   '--disable-background-networking', '--disable-component-update',
                   '--disable-sync', '--window-size=1220,880', '--hide-scrollbars',
                   f'--user-data-dir={work / "profile"}'):
    options.add_argument(argument)
  driver = None
  try:
    url = server.stdout.readline().split()[2]
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(
        executable_path=shutil.which('chromedriver')))
    driver.get(url)
    driver.find_element(By.ID, 'file').send_keys(str(photo))
    WebDriverWait(driver, 600).until(lambda d: d.find_element(By.ID, 'status').text == 'done')
    driver.save_screenshot(args.out)
    print(f'wrote {args.out}')
  finally:
    if driver is not None:
      driver.quit()
    server.terminate()
    server.wait()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
  main()
