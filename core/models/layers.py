"""Layers shared by several model families."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d computed through oneDNN's fast Conv2d path on CPU. Same layer, same
    weights, same outputs (tests check both paths against torch's); other shapes fall back.

    - stride 1: the equivalent Conv2d with the kernel flipped and transposed, padding k-1-p
      (~1.4x faster for the spec AE's decoder, bench/train_speed.py);
    - kernel 4, stride 2, padding 1 (exact doubling): ONE 3x3 Conv2d with 4x the output channels
      followed by PixelShuffle(2): each output pixel parity (even/odd row, even/odd column) sees a
      2x2 subset of the 4x4 taps (~3x faster than torch's native CPU path, torch profiler).
    """

    # For each output parity (0 even, 1 odd) and 3x3 window position (input offset -1, 0, +1):
    # the transposed-conv tap it uses, 4 = none (a zero tap appended to the kernel).
    TAPS = torch.tensor([[3, 1, 4], [4, 2, 0]])

    def equivalent_conv(self):
        """The Conv2d weight [4*C_out, C_in, 3, 3] and bias [4*C_out] this layer equals."""
        w = F.pad(self.weight, (0, 1, 0, 1))  # [C_in, C_out, 5, 5]; index 4 is the zero tap
        rows = self.TAPS.view(2, 1, 3, 1).to(w.device)
        cols = self.TAPS.view(1, 2, 1, 3).to(w.device)
        k = w[:, :, rows, cols]  # [C_in, C_out, 2, 2, 3, 3] (row parity, col parity, window)
        k = k.permute(1, 2, 3, 0, 4, 5).reshape(-1, w.shape[0], 3, 3)
        bias = None if self.bias is None else self.bias.repeat_interleave(4)
        return k, bias

    def forward(self, x, output_size=None):
        if output_size is not None or self.groups != 1 or self.dilation != (1, 1) \
                or self.output_padding != (0, 0):
            return super().forward(x, output_size)
        if self.stride == (1, 1):
            pad = tuple(k - 1 - p for k, p in zip(self.kernel_size, self.padding))
            return F.conv2d(x, self.weight.flip(2, 3).transpose(0, 1), self.bias, padding=pad)
        if (self.kernel_size, self.stride, self.padding) != ((4, 4), (2, 2), (1, 1)):
            return super().forward(x, output_size)
        if self.weight.requires_grad and torch.is_grad_enabled():
            k, bias = self.equivalent_conv()
        else:  # frozen (the denoisers): rebuild the equivalent kernel only when the weights change
            key = (self.weight._version, self.weight.data_ptr(), getattr(self.bias, "_version", None))
            if getattr(self, "_cached_key", None) != key:
                # Normal (not inference-mode) tensors: MAP later differentiates through them in z.
                with torch.inference_mode(False), torch.no_grad():
                    self._cached = self.equivalent_conv()
                self._cached_key = key
            k, bias = self._cached
        return F.pixel_shuffle(F.conv2d(x, k, bias, padding=1), 2)
