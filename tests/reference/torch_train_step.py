"""The reference model's full train step in PyTorch, timed: the yardstick of ``jfsr.bench``.

Written from DESIGN §1 (the authors' notebooks): the upsampling CNN + two-decoder
U-Net generator, two 70x70 PatchGANs, VGG-19 to relu5_1 for the perceptual loss,
LSGAN + L1 + perceptual losses, Adam; one iteration updates D, then G. Random
weights (speed does not depend on them). It needs torch only (no torchvision):

    python tests/reference/torch_train_step.py --batch 8 --repeats 5

Prints one JSON line like ``jfsr.bench``'s ``train_step`` record. Not collected
by pytest; run it next to ``python -m jfsr.bench --what train`` on the same
machine to compare the two as a ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F


def conv_t(cin: int, cout: int) -> nn.ConvTranspose2d:
  return nn.ConvTranspose2d(cin, cout, 4, 2, 1)


def lrelu() -> nn.LeakyReLU:
  return nn.LeakyReLU(0.2)


class Generator(nn.Module):
  def __init__(self, ngf: int = 64, up: int = 64):
    super().__init__()
    layers = [nn.Conv2d(3, up, 9, padding=4, bias=False), lrelu()]
    for _ in range(3):
      layers += [nn.Conv2d(up, 4 * up, 3, padding=1, bias=False), nn.PixelShuffle(2), lrelu()]
    layers += [nn.Conv2d(up, 3, 3, padding=1, bias=False)]
    self.upsampler = nn.Sequential(*layers)
    widths = [ngf, 2 * ngf, 4 * ngf] + [8 * ngf] * 5
    self.enc = nn.ModuleList([nn.Conv2d(3, ngf, 4, 2, 1)])
    for cin, cout in zip(widths[:-1], widths[1:]):
      self.enc.append(nn.Sequential(lrelu(), nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout)))
    # Sharp decoder: c8 -> ... -> 64 x 128²; inputs are concatenations with the mirror level.
    dec_out = [8 * ngf] * 4 + [4 * ngf, 2 * ngf, ngf]
    dec_in = [8 * ngf] + [2 * w for w in widths[-2:0:-1]]
    self.sharp = nn.ModuleList(
        nn.Sequential(nn.ReLU(), conv_t(cin, cout), nn.BatchNorm2d(cout),
                      *([nn.Dropout(0.5)] if i < 3 else []))
        for i, (cin, cout) in enumerate(zip(dec_in, dec_out)))
    self.blur = nn.ModuleList(
        nn.Sequential(nn.ReLU(), conv_t(cin, cout), nn.BatchNorm2d(cout))
        for cin, cout in ((8 * ngf, 4 * ngf), (8 * ngf, 2 * ngf), (4 * ngf, ngf)))
    self.blur_out = nn.Sequential(nn.ReLU(), conv_t(2 * ngf, 3), nn.Tanh())
    self.sharp_out = nn.Sequential(nn.ReLU(), conv_t(2 * ngf, 3), nn.Tanh())

  def forward(self, lr):
    upx = self.upsampler(lr)
    skips = [self.enc[0](upx)]
    for block in self.enc[1:]:
      skips.append(block(skips[-1]))  # c1..c8
    b = skips[3]
    for i, block in enumerate(self.blur):
      b = block(b)
      if i < 2:
        b = torch.cat([b, skips[2 - i]], 1)
    d1_0 = b
    out_blur = self.blur_out(torch.cat([d1_0, skips[0]], 1))
    s = skips[7]
    for i, block in enumerate(self.sharp):
      s = block(s)
      if i < 6:
        s = torch.cat([s, skips[6 - i]], 1)
    out_sharp = self.sharp_out(torch.cat([s + d1_0, skips[0]], 1))
    return upx, out_blur, out_sharp


def patch_gan(cin: int, ndf: int = 64) -> nn.Sequential:
  return nn.Sequential(
      nn.Conv2d(cin, ndf, 4, 2, 1), lrelu(),
      nn.Conv2d(ndf, 2 * ndf, 4, 2, 1), nn.BatchNorm2d(2 * ndf), lrelu(),
      nn.Conv2d(2 * ndf, 4 * ndf, 4, 2, 1), nn.BatchNorm2d(4 * ndf), lrelu(),
      nn.Conv2d(4 * ndf, 8 * ndf, 4, 1, 1), nn.BatchNorm2d(8 * ndf), lrelu(),
      nn.Conv2d(8 * ndf, 1, 4, 1, 1))


class VGG19Taps(nn.Module):
  """torchvision's vgg19().features up to relu5_1, returning relu1_1 ... relu5_1."""

  def __init__(self):
    super().__init__()
    blocks, cin = [], 3
    for width, count in ((64, 2), (128, 2), (256, 4), (512, 4), (512, 1)):
      convs = []
      for _ in range(count):
        convs.append(nn.Conv2d(cin, width, 3, padding=1))
        cin = width
      blocks.append(nn.ModuleList(convs))
    self.blocks = nn.ModuleList(blocks)
    self.requires_grad_(False)

  def forward(self, x):
    taps = []
    for b, convs in enumerate(self.blocks):
      if b:
        x = F.max_pool2d(x, 2)
      for i, conv in enumerate(convs):
        x = F.relu(conv(x))
        if i == 0:
          taps.append(x)
    return taps


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--threads', type=int, default=None, help='torch threads (default: its own)')
  args = parser.parse_args()
  if args.threads:
    torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  n = args.batch
  lr, hr, hr_blur = torch.rand(n, 3, 32, 32) * 2 - 1, torch.rand(n, 3, 256, 256) * 2 - 1, torch.rand(n, 3, 256, 256) * 2 - 1
  mask = (torch.rand(n, 1, 256, 256) > 0.5).float()
  g, dg, dl, vgg = Generator(), patch_gan(6), patch_gan(3), VGG19Taps().eval()
  opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(list(dg.parameters()) + list(dl.parameters()), 2e-4, betas=(0.5, 0.999))
  mse, l1 = nn.MSELoss(), nn.L1Loss()
  mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
  std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
  prep = lambda x: ((x + 1) / 2 - mean) / std
  tap_weights = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

  def step():
    upx, out_blur, fake = g(lr)
    opt_d.zero_grad()
    real_g, fake_g = dg(torch.cat([upx.detach(), hr], 1)), dg(torch.cat([upx.detach(), fake.detach()], 1))
    real_l, fake_l = dl(mask * hr), dl(mask * fake.detach())
    d_loss = 0.25 * (mse(real_g, torch.ones_like(real_g)) + mse(fake_g, torch.zeros_like(fake_g))
                     + mse(real_l, torch.ones_like(real_l)) + mse(fake_l, torch.zeros_like(fake_l)))
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    adv_g, adv_l = dg(torch.cat([upx, fake], 1)), dl(mask * fake)
    with torch.no_grad():
      target = vgg(prep(hr))
    perceptual = sum(w * l1(a, b) for w, a, b in zip(tap_weights, vgg(prep(fake)), target))
    g_loss = (mse(adv_g, torch.ones_like(adv_g)) + mse(adv_l, torch.ones_like(adv_l))
              + 100 * (l1(out_blur, hr_blur) + l1(fake, hr) + l1(mask * fake, mask * hr))
              + 10 * perceptual)
    g_loss.backward()
    opt_g.step()

  start = time.perf_counter()
  step()
  warmup = time.perf_counter() - start
  times = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
  median = statistics.median(times)
  print(json.dumps({
      'what': 'torch_reference_train_step', 'batch': n, 'torch': torch.__version__,
      'threads': torch.get_num_threads(), 'warmup_s': warmup, 'median_s': median,
      'min_s': min(times), 'max_s': max(times), 'images_per_s': n / median,
      'generator_params': sum(p.numel() for p in g.parameters()),
      'global_d_params': sum(p.numel() for p in dg.parameters()),
      'local_d_params': sum(p.numel() for p in dl.parameters())}), flush=True)


if __name__ == '__main__':
  main()
