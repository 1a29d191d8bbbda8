"""Training smoke tests that assert learning, the fit helper, and the noise-injection layer."""

from __future__ import annotations

import numpy as np
import pytest

import autograd
import nn
import nn.functional as F
from nn.data import DataLoader, TensorDataset, load_digits, make_moons, make_xor, train_test_split
from nn.training import accuracy


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xor_is_solved_by_a_2_4_1_mlp(seed):
    autograd.manual_seed(seed)
    X, y = make_xor()
    target = y.float().reshape(4, 1)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = nn.optim.Adam(model.parameters(), lr=0.1)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(300):  # full-batch gradient descent: the whole data set is one batch
        opt.zero_grad()
        loss = loss_fn(model(X), target)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert accuracy(model(X), y) == 1.0


def test_xor_with_plain_sgd_and_momentum():
    autograd.manual_seed(0)
    X, y = make_xor()
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = nn.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for _ in range(400):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(X), y.float().reshape(4, 1)).backward()
        opt.step()
    assert accuracy(model(X), y) == 1.0


def test_two_moons_above_97_percent_with_fit():
    autograd.manual_seed(0)
    X, y = make_moons(600, noise=0.1, seed=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0, stratify=y)
    scaler = nn.data.StandardScaler().fit(X_train)
    train = DataLoader(TensorDataset(scaler.transform(X_train), y_train), batch_size=32, shuffle=True, seed=0)
    test = DataLoader(TensorDataset(scaler.transform(X_test), y_test), batch_size=256)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    history = nn.fit(model, nn.CrossEntropyLoss(), nn.optim.Adam(model.parameters(), lr=0.01), train, epochs=30,
                     val_loader=test, metrics={"acc": accuracy}, progress=False)
    assert history["val_acc"][-1] > 0.97
    assert history["loss"][-1] < history["loss"][0] / 5


def test_a_single_batch_is_overfit_to_near_zero_loss():
    # the wiring check: if a model cannot memorise 32 examples, something between the loss and the
    # parameters is disconnected
    autograd.manual_seed(0)
    X, y = load_digits()
    xb, yb = X[:32] / 16, y[:32]
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 10))
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-2
    assert accuracy(model(xb), yb) == 1.0


# --------------------------------------------------------------------------------------------------------------
# The fit helper
# --------------------------------------------------------------------------------------------------------------
def small_problem(seed=0):
    autograd.manual_seed(seed)
    X, y = make_moons(200, noise=0.15, seed=seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    return X, y, model


def test_fit_runs_exactly_the_hand_written_loop():
    X, y, model = small_problem()
    opt = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    nn.fit(model, nn.CrossEntropyLoss(), opt, DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, seed=3),
           epochs=3, progress=False, clip_grad_norm=1.0)

    X, y, by_hand = small_problem()
    opt = nn.optim.SGD(by_hand.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, seed=3)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(by_hand(xb), yb).backward()
            nn.utils.clip_grad_norm_(by_hand.parameters(), 1.0)
            opt.step()
    for (name, a), (_, b) in zip(model.named_parameters(), by_hand.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_fit_history_has_one_entry_per_epoch():
    X, y, model = small_problem()
    train = DataLoader(TensorDataset(X[:150], y[:150]), batch_size=32, shuffle=True, seed=0)
    val = DataLoader(TensorDataset(X[150:], y[150:]), batch_size=64)
    opt = nn.optim.Adam(model.parameters(), lr=0.01)
    sched = nn.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    history = nn.fit(model, nn.CrossEntropyLoss(), opt, train, epochs=4, val_loader=val,
                     metrics={"acc": accuracy}, scheduler=sched, progress=False)
    assert sorted(history) == ["acc", "loss", "lr", "val_acc", "val_loss"]
    assert all(len(v) == 4 for v in history.values())
    assert history["lr"] == pytest.approx([0.01, 0.01, 0.005, 0.005])
    assert history["val_loss"][-1] == pytest.approx(evaluate_loss(model, val))
    assert model.training  # fit leaves the model in training mode; evaluate restores the mode it found


def evaluate_loss(model, loader):
    return nn.evaluate(model, loader, nn.CrossEntropyLoss())["loss"]


def test_evaluate_averages_over_samples_in_eval_mode():
    X, y, model = small_problem()
    model.append(nn.Dropout(0.5))
    loader = DataLoader(TensorDataset(X, y), batch_size=60)  # batches of 60, 60, 60, 20
    result = nn.evaluate(model, loader, nn.CrossEntropyLoss(), {"acc": accuracy})
    with autograd.no_grad():
        model.eval()
        whole = F.cross_entropy(model(X), y).item()
    assert result["loss"] == pytest.approx(whole, rel=1e-5)  # dropout off, weighted by batch size
    assert 0 <= result["acc"] <= 1


def test_fit_with_early_stopping_and_plateau_scheduler(capsys):
    X, y, model = small_problem()
    train = DataLoader(TensorDataset(X, y), batch_size=200)
    opt = nn.optim.SGD(model.parameters(), lr=0.0)  # lr 0: nothing improves, so the patience runs out
    stopper = nn.utils.EarlyStopping(patience=2)
    climbing = nn.optim.SGD(model.parameters(), lr=0.5, maximize=True)  # the loss gets worse every epoch
    sched = nn.optim.lr_scheduler.ReduceLROnPlateau(climbing, patience=0)
    history = nn.fit(model, nn.CrossEntropyLoss(), opt, train, epochs=10, early_stopping=stopper, progress=True)
    assert len(history["loss"]) == 3 and stopper.best_epoch == 0
    assert "early stopping after epoch 3" in capsys.readouterr().out
    nn.fit(model, nn.CrossEntropyLoss(), sched.optimizer, train, epochs=3, scheduler=sched, progress=False)
    assert climbing.param_groups[0]["lr"] == pytest.approx(0.005)  # reduced after epochs 2 and 3


def test_fit_per_batch_scheduler_and_progress_bar(capsys):
    X, y, model = small_problem()
    opt = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = nn.optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=2)
    loader = DataLoader(TensorDataset(X, y), batch_size=50)
    nn.fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=2, scheduler=sched, scheduler_interval="batch")
    assert sched.last_epoch == 8
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "loss=" in err  # the tqdm bar, with the running loss


def test_fit_argument_errors():
    X, y, model = small_problem()
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(X, y), batch_size=50)
    with pytest.raises(ValueError, match="scheduler_interval"):
        nn.fit(model, nn.CrossEntropyLoss(), opt, loader, scheduler_interval="week")
    with pytest.raises(ValueError, match=r"\(inputs, targets\) pair"):
        nn.fit(model, nn.CrossEntropyLoss(), opt, DataLoader(TensorDataset(X), batch_size=50), progress=False)
    with pytest.raises(KeyError, match="cannot monitor 'val_acc'"):
        nn.fit(model, nn.CrossEntropyLoss(), opt, loader, early_stopping=nn.utils.EarlyStopping(), monitor="val_acc",
               progress=False)


def test_accuracy_metric():
    assert accuracy(autograd.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), autograd.tensor([1, 0, 0])) == \
        pytest.approx(2 / 3)
    assert accuracy(autograd.tensor([[2.0], [-1.0]]), autograd.tensor([[1.0], [1.0]])) == 0.5
    assert accuracy(autograd.tensor([0.7, 0.2]), autograd.tensor([1, 0]), threshold=0.5) == 1.0
    with pytest.raises(ValueError, match="do not match targets"):
        accuracy(autograd.tensor([[0.1, 0.9]]), autograd.tensor([1, 0]))


# --------------------------------------------------------------------------------------------------------------
# Noise injection
# --------------------------------------------------------------------------------------------------------------
def test_gaussian_noise_layer_trains_noisy_and_evaluates_clean():
    autograd.manual_seed(0)
    layer = nn.GaussianNoise(0.5)
    x = autograd.zeros(100, 100, requires_grad=True)
    noisy = layer(x)
    assert noisy.dtype == np.float32
    assert abs(noisy.data.mean()) < 0.02 and noisy.data.std() == pytest.approx(0.5, rel=0.02)
    noisy.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((100, 100)))  # the noise is a constant
    layer.eval()
    assert layer(x) is x
    assert repr(layer) == "GaussianNoise(std=0.5)"
    with pytest.raises(ValueError, match="std must be >= 0"):
        nn.GaussianNoise(-1)


# --------------------------------------------------------------------------------------------------------------
# The demo (README's first command)
# --------------------------------------------------------------------------------------------------------------
def test_demo_trains_saves_reloads_and_draws(tmp_path, capsys):
    from nn import demo

    status = demo.main(["--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "at least 97%" in out and "(the same)" in out
    assert (tmp_path / "digits_cnn.safetensors").exists()
    reloaded = demo.build_model()
    reloaded.load_state_dict(nn.load(tmp_path / "digits_cnn.safetensors"))
    try:
        import matplotlib  # noqa: F401
        assert (tmp_path / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    except ImportError:
        assert "loss curve: skipped" in out
    svg, dot = tmp_path / "training_step.svg", tmp_path / "training_step.dot"
    assert svg.exists() or dot.exists() or "graph of one training step: skipped" in out
    if svg.exists():
        assert "<svg" in svg.read_text() and "0.weight" in svg.read_text()
    assert str(tmp_path) in out


def test_demo_graph_falls_back_to_dot_text_without_graphviz(tmp_path, monkeypatch):
    graphviz = pytest.importorskip("graphviz")
    from nn import demo

    def no_dot(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", no_dot)
    X, y = load_digits()
    message = demo.draw_training_step(demo.build_model(), X[:2] / 16, y[:2], str(tmp_path))
    assert "training_step.dot" in message and "install Graphviz" in message
    assert (tmp_path / "training_step.dot").read_text().startswith("digraph")
