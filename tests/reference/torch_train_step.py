"""The authors' model and train step, transcribed in PyTorch: jfsr's independent oracle.

Written from docs/design.md ("Networks", "Losses") and the structure of the ``FaceSRnDeblur_train`` notebook
(module names ``upscale8``, ``conv1..L``, ``deconvL..1``, ``deconv4_0..1_0``; the
discriminator's ``main``; skip connections concatenated as ``cat(skip, x)``; the
step's order: G forward once, D update with each D scoring the fake pair before
the real one, then the G update through the updated, training-mode Ds), with
PyTorch's own layers, initialisation, BatchNorm and Adam. It shares no code with
jfsr. Sizes are parameters, so tests can run it small; the defaults are the
paper's 32² -> 256² model.

Two uses:

* ``tests/test_torch_oracle.py`` loads jfsr's weights into it (through
  ``python -m jfsr.export``'s state dicts) and compares one full train step;
* timing, next to ``jfsr.measures.speed`` on the same machine (random weights):

      python tests/reference/torch_train_step.py --batch 8 --repeats 5

  prints one JSON line like ``jfsr.measures.speed``'s ``train_step`` record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F


def _bn_block(*layers, width: int, dropout: bool = False) -> nn.Sequential:
  return nn.Sequential(*layers, nn.BatchNorm2d(width), *([nn.Dropout(0.5)] if dropout else []))


class Generator(nn.Module):
  """The notebook's generator with ``levels`` encoder levels (8 for 256² outputs)."""

  def __init__(self, ngf: int = 64, up: int = 64, levels: int = 8, doublings: int = 3,
               in_channels: int = 3):
    super().__init__()
    self.levels = levels
    layers = [nn.Conv2d(in_channels, up, 9, padding=4, bias=False), nn.LeakyReLU(0.2)]
    for _ in range(doublings):
      layers += [nn.Conv2d(up, 4 * up, 3, padding=1, bias=False), nn.PixelShuffle(2),
                 nn.LeakyReLU(0.2)]
    layers += [nn.Conv2d(up, 3, 3, padding=1, bias=False)]
    self.upscale8 = nn.Sequential(*layers)
    widths = [ngf * min(2 ** i, 8) for i in range(levels)]
    self.conv1 = nn.Conv2d(3, ngf, 4, 2, 1)
    for level in range(2, levels + 1):
      setattr(self, f'conv{level}', _bn_block(
          nn.LeakyReLU(0.2), nn.Conv2d(widths[level - 2], widths[level - 1], 4, 2, 1),
          width=widths[level - 1]))
    # Sharp decoder deconvL .. deconv2: deconv{k} outputs level k-1's width.
    for k in range(levels, 1, -1):
      cin = widths[k - 1] * (1 if k == levels else 2)
      setattr(self, f'deconv{k}', _bn_block(
          nn.ReLU(), nn.ConvTranspose2d(cin, widths[k - 2], 4, 2, 1), width=widths[k - 2],
          dropout=k > levels - 3))
    self.deconv1 = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * ngf, 3, 4, 2, 1), nn.Tanh())
    # Blur decoder from c4.
    self.deconv4_0 = _bn_block(nn.ReLU(), nn.ConvTranspose2d(widths[3], widths[2], 4, 2, 1),
                               width=widths[2])
    self.deconv3_0 = _bn_block(nn.ReLU(), nn.ConvTranspose2d(2 * widths[2], widths[1], 4, 2, 1),
                               width=widths[1])
    self.deconv2_0 = _bn_block(nn.ReLU(), nn.ConvTranspose2d(2 * widths[1], widths[0], 4, 2, 1),
                               width=widths[0])
    self.deconv1_0 = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * ngf, 3, 4, 2, 1), nn.Tanh())

  def forward(self, x, dropout_keep=None):
    """``dropout_keep``: the three dropout layers' keep masks (replayed), else random."""
    upx = self.upscale8(x)
    c = [None, self.conv1(upx)]
    for level in range(2, self.levels + 1):
      c.append(getattr(self, f'conv{level}')(c[-1]))
    b = torch.cat((c[3], self.deconv4_0(c[4])), 1)
    b = torch.cat((c[2], self.deconv3_0(b)), 1)
    d1_0 = self.deconv2_0(b)
    out_blur = self.deconv1_0(torch.cat((c[1], d1_0), 1))
    d = c[self.levels]
    for i, k in enumerate(range(self.levels, 1, -1)):
      block = getattr(self, f'deconv{k}')
      if dropout_keep is not None and i < 3:
        d = block[:3](d) * dropout_keep[i] / 0.5  # ReLU, ConvT, BN, then the replayed dropout
      else:
        d = block(d)
      d = torch.cat((c[k - 1], d), 1) if k > 2 else d
    out_sharp = self.deconv1(torch.cat((c[1], d + d1_0), 1))
    return upx, out_blur, out_sharp


class Discriminator(nn.Module):
  """The notebook's PatchGAN (``strided`` 3: its five convolutions)."""

  def __init__(self, in_channels: int, ndf: int = 64, strided: int = 3):
    super().__init__()
    layers = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
    width = ndf
    for i in range(1, strided + 1):
      out = ndf * min(2 ** i, 8)
      layers += [nn.Conv2d(width, out, 4, 2 if i < strided else 1, 1), nn.BatchNorm2d(out),
                 nn.LeakyReLU(0.2)]
      width = out
    layers += [nn.Conv2d(width, 1, 4, 1, 1)]
    self.main = nn.Sequential(*layers)

  def forward(self, x):
    return self.main(x)


class VGGTaps(nn.Module):
  """torchvision's VGG layout up to relu5_1 (``arch`` 'vgg19' or 'vgg16', widths divided
  by ``width_divisor``), returning relu1_1 ... relu5_1. Inputs go in as they are."""

  def __init__(self, arch: str = 'vgg19', width_divisor: int = 1):
    super().__init__()
    counts = {'vgg19': (2, 2, 4, 4, 1), 'vgg16': (2, 2, 3, 3, 1)}[arch]  # block 5: to relu5_1
    blocks, cin = [], 3
    for width, count in zip((64, 128, 256, 512, 512), counts):
      width //= width_divisor
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


TAP_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def train_step(nets: dict, optimizers: dict, batch: dict, lambda_l1: float = 100.0,
               lambda_vgg: float = 10.0, dropout_keep=None) -> dict:
  """One iteration of the notebook's loop; returns its outputs and loss terms (floats)."""
  g, dg, dl, vgg = nets['generator'], nets['global_d'], nets['local_d'], nets['vgg']
  lr, hr, hr_blur, mask = batch['lr'], batch['hr'], batch['hr_blur'], batch['mask']
  mse, l1 = nn.MSELoss(), nn.L1Loss()
  ones, zeros = lambda x: torch.ones_like(x), lambda x: torch.zeros_like(x)

  upx, out_blur, fake = g(lr, dropout_keep)
  fake_m, hr_m = fake * mask, hr * mask
  # D update: fake before real for each discriminator.
  dg.zero_grad()
  dl.zero_grad()
  pred = dg(torch.cat((upx.detach(), fake.detach()), 1))
  d_global_fake = mse(pred, zeros(pred))
  pred = dg(torch.cat((upx.detach(), hr), 1))
  d_global_real = mse(pred, ones(pred))
  pred = dl(fake_m.detach())
  d_local_fake = mse(pred, zeros(pred))
  pred = dl(hr_m)
  d_local_real = mse(pred, ones(pred))
  d_loss = 0.25 * (d_global_fake + d_global_real + d_local_fake + d_local_real)
  d_loss.backward()
  optimizers['d'].step()
  # G update through the updated discriminators (training mode).
  g.zero_grad()
  pred_g, pred_l = dg(torch.cat((upx, fake), 1)), dl(fake_m)
  g_global_adv, g_local_adv = mse(pred_g, ones(pred_g)), mse(pred_l, ones(pred_l))
  l1_blur, l1_sharp, l1_face = l1(out_blur, hr_blur), l1(fake, hr), l1(fake_m, hr_m)
  fake_taps, target_taps = vgg(fake), vgg(hr)
  perceptual = sum(w * l1(a, b.detach()) for w, a, b in zip(TAP_WEIGHTS, fake_taps, target_taps))
  g_loss = (g_global_adv + g_local_adv + lambda_l1 * (l1_blur + l1_sharp + l1_face)
            + lambda_vgg * perceptual)
  g_loss.backward()
  optimizers['g'].step()
  terms = dict(d_global_fake=d_global_fake, d_global_real=d_global_real, d_local_fake=d_local_fake,
               d_local_real=d_local_real, d_loss=d_loss, g_global_adv=g_global_adv,
               g_local_adv=g_local_adv, l1_blur=l1_blur, l1_sharp=l1_sharp, l1_face=l1_face,
               perceptual=perceptual, g_loss=g_loss)
  return {'upx': upx.detach(), 'out_blur': out_blur.detach(), 'out_sharp': fake.detach(),
          **{k: v.item() for k, v in terms.items()}}


def make_optimizers(nets: dict, lr: float = 2e-4, betas=(0.5, 0.999)) -> dict:
  """The notebook's two Adams: one for G, one over both discriminators' parameters."""
  d_params = list(nets['global_d'].parameters()) + list(nets['local_d'].parameters())
  return {'g': torch.optim.Adam(nets['generator'].parameters(), lr, betas),
          'd': torch.optim.Adam(d_params, lr, betas)}


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
  batch = {'lr': torch.rand(n, 3, 32, 32) * 2 - 1, 'hr': torch.rand(n, 3, 256, 256) * 2 - 1,
           'hr_blur': torch.rand(n, 3, 256, 256) * 2 - 1,
           'mask': (torch.rand(n, 1, 256, 256) > 0.5).float()}
  nets = {'generator': Generator(), 'global_d': Discriminator(6), 'local_d': Discriminator(3),
          'vgg': VGGTaps().eval()}
  optimizers = make_optimizers(nets)
  start = time.perf_counter()
  train_step(nets, optimizers, batch)
  warmup = time.perf_counter() - start
  times = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    train_step(nets, optimizers, batch)
    times.append(time.perf_counter() - start)
  median = statistics.median(times)
  count = lambda m: sum(p.numel() for p in m.parameters())
  print(json.dumps({
      'what': 'torch_reference_train_step', 'batch': n, 'torch': torch.__version__,
      'threads': torch.get_num_threads(), 'warmup_s': warmup, 'median_s': median,
      'min_s': min(times), 'max_s': max(times), 'images_per_s': n / median,
      'generator_params': count(nets['generator']), 'global_d_params': count(nets['global_d']),
      'local_d_params': count(nets['local_d'])}), flush=True)


if __name__ == '__main__':
  main()
