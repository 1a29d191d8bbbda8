"""Module: registration, names, traversal, modes, gradients, state dicts, dtype conversion, repr, containers."""

from __future__ import annotations

import numpy as np
import pytest

import autograd
import nn


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.scale = nn.Parameter(autograd.ones(1))
        self.register_buffer("steps", autograd.zeros(1))
        self.register_buffer("cache", autograd.zeros(2), persistent=False)

    def forward(self, x):
        return self.bn(self.conv(x)) * self.scale


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.layers = nn.ModuleList([nn.Linear(8, 4), nn.Linear(4, 2)])
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        x = self.block(x).flatten(1)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def test_named_parameters_use_pytorch_dotted_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "block.scale", "block.conv.weight", "block.conv.bias", "block.bn.weight", "block.bn.bias",
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == ["block.steps", "block.cache", "block.bn.running_mean",
                                                   "block.bn.running_var", "block.bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["block", "layers", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.conv", "block.bn", "layers", "layers.0",
                                                   "layers.1", "head", "head.0", "head.1"]
    assert len(list(net.modules())) == 10
    assert net.get_submodule("layers.1") is net.layers[1]
    assert net.get_parameter("block.conv.bias") is net.block.conv.bias
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("layers.nope")


def test_parameter_count():
    net = Net()
    expected = 1 + (2 * 9 + 2) + (2 + 2) + (8 * 4 + 4) + (4 * 2 + 2)
    assert net.num_parameters() == expected == sum(p.numel() for p in net.parameters())
    net.block.conv.weight.requires_grad_(False)
    assert net.num_parameters(trainable_only=True) == expected - 18


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # as PyTorch


def test_reassigning_and_deleting_attributes_updates_the_registries():
    m = nn.Module()
    m.w = nn.Parameter(autograd.zeros(2))
    m.sub = nn.Linear(2, 2)
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    m.w = nn.Linear(1, 1)  # a parameter slot becomes a module
    assert [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias", "w.weight", "w.bias"]
    del m.sub
    assert [n for n, _ in m.named_parameters()] == ["w.weight", "w.bias"]
    m.w = None
    assert list(m.named_parameters()) == []
    m.plain = 3  # ordinary attributes stay ordinary
    assert m.plain == 3 and list(m.state_dict()) == []
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"nn.Parameter"):
        lin.weight = autograd.zeros(2, 2)
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]


def test_assigning_before_init_explains_the_fix():
    class Forgot(nn.Module):
        def __init__(self) -> None:
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_train_and_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.head.train(False)
    assert net.training and not net.head[1].training


def test_zero_grad():
    net = nn.Sequential(nn.Linear(3, 2))
    net(autograd.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad.data) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_contents_and_round_trip():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["block.scale", "block.steps", "block.conv.weight", "block.conv.bias", "block.bn.weight",
                        "block.bn.bias", "block.bn.running_mean", "block.bn.running_var",
                        "block.bn.num_batches_tracked", "layers.0.weight", "layers.0.bias", "layers.1.weight",
                        "layers.1.bias"]  # non-persistent buffers are left out
    assert all(isinstance(v, autograd.Tensor) and not v.requires_grad for v in sd.values())
    other = Net()
    other.load_state_dict({k: np.array(v.data) + 1 for k, v in sd.items()})
    np.testing.assert_allclose(other.layers[0].weight.data, net.layers[0].weight.data + 1)
    assert other.layers[0].weight.dtype == np.float32
    assert other.block.bn.num_batches_tracked.item() == 1
    assert isinstance(other.layers[0].weight, nn.Parameter)


def test_load_state_dict_errors_list_missing_unexpected_and_mismatched_keys():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    sd = net.state_dict()
    broken = dict(sd)
    del broken["1.bias"]
    broken["1.extra"] = autograd.zeros(1)
    broken["0.weight"] = autograd.zeros(5, 5)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(broken)
    message = str(info.value)
    assert "Error(s) in loading state_dict for Sequential" in message
    assert 'Missing key(s) in state_dict: "1.bias"' in message
    assert 'Unexpected key(s) in state_dict: "1.extra"' in message
    assert "size mismatch for 0.weight: copying a param with shape (5, 5)" in message and "(2, 3)" in message
    del broken["0.weight"]
    broken["0.weight"] = sd["0.weight"]
    result = net.load_state_dict(broken, strict=False)
    assert result.missing_keys == ["1.bias"] and result.unexpected_keys == ["1.extra"]


def test_to_dtype_converts_in_place():
    net = Net()
    params = list(net.parameters())
    assert net.to(np.float64) is net
    assert [p is q for p, q in zip(params, net.parameters())] == [True] * len(params)
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.block.bn.running_mean.dtype == np.float64
    assert net.block.bn.num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert net.to("cpu") is net
    with pytest.raises(TypeError, match="floating"):
        net.to(np.int32)


def test_repr_prints_the_tree_like_pytorch():
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Sequential(nn.Linear(128, 10, bias=False), nn.Dropout(0.25)), nn.LSTM(4, 8, 2))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): ReLU()\n"
        "  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  (3): Flatten(start_dim=1, end_dim=-1)\n"
        "  (4): Sequential(\n"
        "    (0): Linear(in_features=128, out_features=10, bias=False)\n"
        "    (1): Dropout(p=0.25, inplace=False)\n"
        "  )\n"
        "  (5): LSTM(4, 8, num_layers=2)\n"
        ")")
    assert repr(nn.BatchNorm2d(4)) == \
        "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    assert repr(nn.LayerNorm(5)) == "LayerNorm((5,), eps=1e-05, elementwise_affine=True)"
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Conv2d(2, 4, 3, padding="same", bias=False)) == \
        "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding='same', bias=False)"


def test_repr_matches_pytorch_when_available():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.BatchNorm2d(16), nn.LeakyReLU(0.2),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10), nn.LogSoftmax(dim=1))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 5, stride=2, padding=2), torch.nn.BatchNorm2d(16),
                                 torch.nn.LeakyReLU(0.2), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(64, 10), torch.nn.LogSoftmax(dim=1))
    assert repr(ours) == repr(theirs)


def test_sequential_container():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head) == [b, c]
    x = autograd.randn(4, 2)
    np.testing.assert_allclose(seq(x).data, c(b(a(x))).data)
    seq.append(nn.Sigmoid())
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    del seq[1]
    assert [type(m).__name__ for m in seq] == ["Linear", "Linear", "Sigmoid"]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.Linear(2, 2), lambda x: x)


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.Linear(2, 1))
    layers += [nn.Tanh()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Tanh)
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and [n for n, _ in layers.named_children()][-1] == "5"
    with pytest.raises(IndexError, match="out of range"):
        layers[9]
    heads = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Linear(2, 3)})
    assert list(heads) == ["a", "b"] and "a" in heads and heads["b"].out_features == 3
    assert [n for n, _ in heads.named_parameters()] == ["a.weight", "a.bias", "b.weight", "b.bias"]


def test_apply_and_requires_grad():
    net = Net()
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 2
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_module_call_overhead_is_small():
    """Calling a module without hooks adds one attribute test and a try block around forward (no global state)."""
    layer = nn.Identity()
    x = autograd.zeros(1)
    assert layer(x) is x and not layer._has_hooks
    with layer.register_forward_hook(lambda module, args, output: None):
        assert layer._has_hooks
    assert not layer._has_hooks  # the fast path is back once the last hook is removed


# ---------------------------------------------------------------------------------------------------------------
# Forward hooks
# ---------------------------------------------------------------------------------------------------------------
class Scale(nn.Module):
    def forward(self, x, factor=1.0):
        return x * factor


def test_forward_pre_hook_sees_and_replaces_the_arguments():
    layer, seen = Scale(), []
    handle = layer.register_forward_pre_hook(lambda module, args: seen.append((module, args)))
    x = autograd.tensor([1.0, 2.0])
    assert layer(x).tolist() == [1.0, 2.0]
    assert seen[0][0] is layer and seen[0][1][0] is x and isinstance(seen[0][1], tuple)
    handle.remove()
    handle.remove()  # removing twice is harmless
    layer.register_forward_pre_hook(lambda module, args: args[0] + 1)  # not a tuple: becomes (args[0] + 1,)
    layer.register_forward_pre_hook(lambda module, args: (args[0], 3.0))  # runs second, sees the first's result
    assert layer(x).tolist() == [6.0, 9.0]
    assert len(seen) == 1


def test_forward_hook_sees_the_final_arguments_and_replaces_the_output():
    layer, log = Scale(), []
    layer.register_forward_pre_hook(lambda module, args: args[0] * 10)
    layer.register_forward_hook(lambda module, args, output: log.append(("first", args[0].tolist(), output.tolist())))
    layer.register_forward_hook(lambda module, args, output: output - 1)
    layer.register_forward_hook(lambda module, args, output: log.append(("third", output.tolist())))
    layer.register_forward_hook(lambda module, args, output: log.append("prepended"), prepend=True)
    assert layer(autograd.tensor([1.0])).tolist() == [9.0]
    assert log == ["prepended", ("first", [10.0], [10.0]), ("third", [9.0])]


def test_hooks_with_kwargs():
    layer, log = Scale(), []

    def pre(module, args, kwargs):
        return args, {**kwargs, "factor": kwargs.get("factor", 1.0) * 2}

    def post(module, args, kwargs, output):
        log.append(kwargs)

    layer.register_forward_pre_hook(pre, with_kwargs=True)
    layer.register_forward_hook(post, with_kwargs=True)
    assert layer(autograd.tensor([1.0]), factor=3.0).tolist() == [6.0]
    assert log == [{"factor": 6.0}]
    layer.register_forward_pre_hook(lambda module, args, kwargs: args, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"Scale: a forward pre-hook registered with with_kwargs=True must return "
                                           r"None or a tuple \(new_args, new_kwargs\), got tuple"):
        layer(autograd.tensor([1.0]))


def test_hook_handles_remove_on_exit_and_do_not_keep_the_module_alive():
    import gc
    import weakref

    layer, calls = Scale(), []
    with layer.register_forward_hook(lambda *a: calls.append("post")) as handle:
        with layer.register_forward_pre_hook(lambda *a: calls.append("pre")):
            layer(autograd.ones(1))
        layer(autograd.ones(1))
    layer(autograd.ones(1))
    assert calls == ["pre", "post", "post"] and isinstance(handle.id, int)
    handle = layer.register_forward_hook(lambda *a: None)
    ref = weakref.ref(layer)
    del layer
    gc.collect()
    assert ref() is None
    handle.remove()  # the module is gone: nothing to do


def test_hooks_are_not_state_and_work_in_containers():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    shapes = {}
    for name, module in model.named_modules():
        module.register_forward_hook(lambda m, args, out, name=name: shapes.__setitem__(name, out.shape))
    model(autograd.zeros(4, 2))
    assert shapes == {"": (4, 1), "0": (4, 3), "1": (4, 3), "2": (4, 1)}
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    clone = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    clone.load_state_dict(model.state_dict())
    assert not any(m._has_hooks for m in clone.modules())
    assert repr(model) == repr(clone)
    with pytest.raises(TypeError, match="register_forward_hook: the hook must be callable, got int"):
        model.register_forward_hook(3)


def test_errors_inside_hooked_modules_still_name_the_layer():
    model = nn.Sequential(nn.Linear(2, 3))
    model[0].register_forward_hook(lambda m, args, out: None)
    model.register_forward_pre_hook(lambda m, args: None)
    with pytest.raises(ValueError, match=r"^0 \(Linear\)"):
        model(autograd.zeros(4, 5))


def test_deepcopy_gives_an_independent_model():
    import copy
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    clone = copy.deepcopy(model)
    assert clone[0].weight is clone[0]._parameters["weight"] and clone[0].weight is not model[0].weight
    with autograd.no_grad():
        clone[0].weight.fill_(0.0)
    assert np.any(model[0].weight.data != 0)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]
