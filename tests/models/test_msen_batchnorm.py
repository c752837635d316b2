"""M-SEN's batch-norm statistics: unbiased from the first batch, collected without dropout.

Regression tests for the bug that made the demo's M-SEN predict one class on
every frame: running statistics biased to their start values (0/1) for the
first ~10 batches and, with dropout after every conv layer, variances 22-76x
too large after the gate, so the eval-mode logits were a constant.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from sonomtl.models.msen import debias_batchnorm_statistics_, msen_generator


def test_first_training_batch_replaces_the_start_statistics():
    torch.manual_seed(0)
    bn = debias_batchnorm_statistics_(nn.Sequential(nn.BatchNorm2d(3))).train()
    x = torch.randn(4, 3, 5, 5) * 0.03 + 2.0
    bn(x)
    values = x.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(bn[0].running_mean, values.mean(1))
    torch.testing.assert_close(bn[0].running_var, values.var(1, unbiased=True))
    # second batch: the cumulative mean of the two (1/n = 0.5 > momentum 0.1)
    y = torch.randn(4, 3, 5, 5) * 0.05 - 1.0
    bn(y)
    both = torch.stack([values.mean(1), y.transpose(0, 1).reshape(3, -1).mean(1)])
    torch.testing.assert_close(bn[0].running_mean, both.mean(0))
    # after 1/momentum batches it is PyTorch's moving average (momentum 0.1) again
    for _ in range(20):
        bn(y)
    assert bn[0].momentum == 0.1


def test_generator_running_statistics_are_those_of_the_network_without_dropout():
    torch.manual_seed(0)
    g = msen_generator(sononet_width=4, dropout=0.2).train()
    x = torch.randn(8, 1, 32, 32)
    g(x)  # one training forward: the first batch sets the running statistics
    layers = {n: m for n, m in g.named_modules() if isinstance(m, nn.BatchNorm2d)}
    running = {n: (m.running_mean.clone(), m.running_var.clone()) for n, m in layers.items()}
    seen = {}
    hooks = [m.register_forward_pre_hook(
        lambda mod, inp, n=n: seen.__setitem__(n, inp[0].transpose(0, 1).flatten(1)))
        for n, m in layers.items()]
    g.eval()  # the network as it runs at inference (no dropout), with batch statistics
    for m in layers.values():
        m.train()
    with torch.no_grad():
        g(x)
    for h in hooks:
        h.remove()
    assert len(seen) == len(layers) == 18
    for name, values in seen.items():
        torch.testing.assert_close(running[name][0], values.mean(1), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(running[name][1], values.var(1), rtol=1e-4, atol=1e-6)
