"""Convolution and pooling arguments PyTorch refuses are refused, with an error naming the layer (or the
function) and the argument: kernel sizes, strides and dilations below 1, negative padding, padding beyond half
a pooling kernel, groups that are not a positive divisor of the channels, a zero divisor. The layers refuse
them when they are built; `nn.Conv2d(1, 2, 0)` used to be accepted and to return zeros.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import autograd as ag
import nn
import nn.functional as F

X1, X2 = ag.randn(1, 2, 8), ag.randn(1, 2, 8, 8)
W1, W2 = ag.randn(2, 2, 3), ag.randn(2, 2, 3, 3)

LAYERS: dict[str, tuple[Callable, str]] = {
    "Conv2d kernel 0": (lambda: nn.Conv2d(1, 2, 0), r"Conv2d: kernel_size must be positive, got \(0, 0\)"),
    "Conv2d kernel (3, 0)": (lambda: nn.Conv2d(1, 2, (3, 0)), r"Conv2d: kernel_size must be positive, got \(3, 0\)"),
    "Conv2d kernel -1": (lambda: nn.Conv2d(1, 2, -1), r"Conv2d: kernel_size must be positive"),
    "Conv1d kernel 0": (lambda: nn.Conv1d(1, 2, 0), r"Conv1d: kernel_size must be positive, got \(0,\)"),
    "Conv2d stride 0": (lambda: nn.Conv2d(1, 2, 3, stride=0), r"Conv2d: stride must be positive, got \(0, 0\)"),
    "Conv1d stride -1": (lambda: nn.Conv1d(1, 2, 3, stride=-1), r"Conv1d: stride must be positive"),
    "Conv2d dilation 0": (lambda: nn.Conv2d(1, 2, 3, dilation=(1, 0)), r"Conv2d: dilation must be positive"),
    "Conv2d padding -1": (lambda: nn.Conv2d(1, 2, 3, padding=-1), r"Conv2d: padding must be non-negative"),
    "Conv2d groups 0": (lambda: nn.Conv2d(2, 2, 3, groups=0), r"Conv2d: groups must be a positive integer, got 0"),
    "Conv1d groups -2": (lambda: nn.Conv1d(2, 2, 3, groups=-2), r"Conv1d: groups must be a positive integer"),
    "Conv2d groups 3": (lambda: nn.Conv2d(2, 6, 3, groups=3), r"Conv2d: in_channels \(2\) and out_channels \(6\) "
                                                              r"must be divisible by groups \(3\)"),
    "Conv2d in_channels -1": (lambda: nn.Conv2d(-1, 2, 3), r"Conv2d: in_channels must be a non-negative integer"),
    "MaxPool2d kernel 0": (lambda: nn.MaxPool2d(0), r"MaxPool2d: kernel_size must be positive, got \(0, 0\)"),
    "MaxPool1d stride 0": (lambda: nn.MaxPool1d(2, stride=0), r"MaxPool1d: stride must be positive"),
    "MaxPool2d dilation 0": (lambda: nn.MaxPool2d(2, dilation=0), r"MaxPool2d: dilation must be positive"),
    "MaxPool2d padding -1": (lambda: nn.MaxPool2d(2, padding=-1), r"MaxPool2d: padding must be non-negative"),
    "MaxPool2d padding > kernel/2": (lambda: nn.MaxPool2d(2, padding=2),
                                     r"MaxPool2d: padding \(2, 2\) must be at most half the kernel size"),
    "AvgPool2d kernel 0": (lambda: nn.AvgPool2d(0), r"AvgPool2d: kernel_size must be positive"),
    "AvgPool1d kernel -1": (lambda: nn.AvgPool1d(-1), r"AvgPool1d: kernel_size must be positive"),
    "AvgPool2d stride 0": (lambda: nn.AvgPool2d(2, stride=(1, 0)), r"AvgPool2d: stride must be positive"),
    "AvgPool2d padding -1": (lambda: nn.AvgPool2d(3, padding=-1), r"AvgPool2d: padding must be non-negative"),
    "AvgPool2d divisor 0": (lambda: nn.AvgPool2d(2, divisor_override=0),
                            r"AvgPool2d: divisor_override must be a nonzero integer, got 0"),
    "AdaptiveAvgPool2d -1": (lambda: nn.AdaptiveAvgPool2d((2, -1)), r"AdaptiveAvgPool2d: output_size must be a "
                                                                    "non-negative int"),
    "MaxUnpool2d kernel 0": (lambda: nn.MaxUnpool2d(0), r"MaxUnpool2d: kernel_size must be positive"),
}


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layers_refuse_bad_arguments_when_built(case):
    build, message = LAYERS[case]
    with pytest.raises(ValueError, match=message):
        build()


FUNCTIONS: dict[str, tuple[Callable, str]] = {
    "conv2d kernel (0, 3)": (lambda: F.conv2d(X2, ag.randn(2, 2, 0, 3)),
                             r"conv2d: the weight of shape \(2, 2, 0, 3\) has the kernel size \(0, 3\); every "
                             "kernel size must be at least 1"),
    "conv1d kernel 0": (lambda: F.conv1d(X1, ag.randn(2, 2, 0)), r"conv1d: .* kernel size \(0,\)"),
    "conv2d stride 0": (lambda: F.conv2d(X2, W2, stride=0), r"conv2d: stride must be positive"),
    "conv1d dilation 0": (lambda: F.conv1d(X1, W1, dilation=0), r"conv1d: dilation must be positive"),
    "conv2d padding -1": (lambda: F.conv2d(X2, W2, padding=(0, -1)), r"conv2d: padding must be non-negative"),
    "conv2d groups 0": (lambda: F.conv2d(X2, W2, groups=0), r"conv2d: groups must be a positive integer, got 0"),
    "conv1d groups 2.0": (lambda: F.conv1d(X1, W1, groups=2.0), r"conv1d: groups must be a positive integer"),
    "max_pool2d kernel 0": (lambda: F.max_pool2d(X2, 0), r"max_pool2d: kernel_size must be positive"),
    "max_pool1d dilation 0": (lambda: F.max_pool1d(X1, 2, dilation=0), r"max_pool1d: dilation must be positive"),
    "max_pool2d padding -1": (lambda: F.max_pool2d(X2, 3, padding=-1), r"max_pool2d: padding must be non-negative"),
    "avg_pool2d stride 0": (lambda: F.avg_pool2d(X2, 2, 0), r"avg_pool2d: stride must be positive"),
    "avg_pool1d kernel -1": (lambda: F.avg_pool1d(X1, -1), r"avg_pool1d: kernel_size must be positive"),
    "avg_pool2d divisor 0": (lambda: F.avg_pool2d(X2, 2, divisor_override=0),
                             r"avg_pool2d: divisor_override must be a nonzero integer"),
    "adaptive_avg_pool2d -1": (lambda: F.adaptive_avg_pool2d(X2, -1), r"adaptive_avg_pool2d: output_size must be "
                                                                       "non-negative"),
    "adaptive_avg_pool1d empty input": (lambda: F.adaptive_avg_pool1d(ag.zeros(1, 2, 0), 2),
                                        r"adaptive_avg_pool1d: the input of shape \(1, 2, 0\) is empty in a "
                                        "pooled dim"),
}


@pytest.mark.parametrize("case", sorted(FUNCTIONS))
def test_functions_refuse_bad_arguments(case):
    call, message = FUNCTIONS[case]
    with pytest.raises(ValueError, match=message):
        call()


def test_the_smallest_valid_arguments_still_work():
    assert nn.Conv2d(1, 2, 1)(ag.zeros(1, 1, 3, 3)).shape == (1, 2, 3, 3)
    assert nn.Conv2d(0, 2, 3)(ag.zeros(1, 0, 3, 3)).shape == (1, 2, 1, 1)  # no input channels: the bias alone
    assert nn.MaxPool2d(3, stride=1, padding=1)(ag.zeros(1, 1, 3, 3)).shape == (1, 1, 3, 3)
    assert nn.AvgPool2d(2, divisor_override=-2)(ag.ones(1, 1, 2, 4)).tolist() == [[[[-2.0, -2.0]]]]
    out = nn.AdaptiveAvgPool2d((0, 2))(ag.ones(1, 1, 5, 4, requires_grad=True))  # PyTorch allows a size of 0
    assert out.shape == (1, 1, 0, 2)


PYTORCH_REFUSES = {  # the same arguments given to PyTorch's layers: refused at construction or at the first call
    "Conv2d kernel 0": (lambda nn: nn.Conv2d(1, 2, 0), (1, 1, 8, 8)),
    "Conv2d stride 0": (lambda nn: nn.Conv2d(1, 2, 3, stride=0), (1, 1, 8, 8)),
    "Conv2d dilation 0": (lambda nn: nn.Conv2d(1, 2, 3, dilation=(1, 0)), (1, 1, 8, 8)),
    "Conv2d padding -1": (lambda nn: nn.Conv2d(1, 2, 3, padding=-1), (1, 1, 8, 8)),
    "Conv2d groups 0": (lambda nn: nn.Conv2d(2, 2, 3, groups=0), (1, 2, 8, 8)),
    "MaxPool2d kernel 0": (lambda nn: nn.MaxPool2d(0), (1, 1, 8, 8)),
    "MaxPool2d padding > kernel/2": (lambda nn: nn.MaxPool2d(2, padding=2), (1, 1, 8, 8)),
    "AvgPool2d divisor 0": (lambda nn: nn.AvgPool2d(2, divisor_override=0), (1, 1, 8, 8)),
    "AdaptiveAvgPool2d -1": (lambda nn: nn.AdaptiveAvgPool2d((2, -1)), (1, 1, 8, 8)),
}


@pytest.mark.parametrize("case", sorted(PYTORCH_REFUSES))
def test_pytorch_refuses_the_same_arguments(case):
    torch = pytest.importorskip("torch")
    build, shape = PYTORCH_REFUSES[case]
    with pytest.raises((RuntimeError, ValueError)):
        build(torch.nn)(torch.zeros(shape))
    with pytest.raises(ValueError):
        build(nn)
