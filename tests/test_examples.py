"""The example scripts (`python -m nn.examples.NAME`), each in a reduced form that runs in seconds: they train,
learn something measurable, and write their pictures."""

from __future__ import annotations

import numpy as np
import pytest

import autograd


def test_transformer_example_learns_to_sort(tmp_path, capsys):
    from nn.examples import transformer

    # the data: held-out problems never appear in training, targets ignore the question
    rng = np.random.default_rng(0)
    train, test = transformer.sample_problems(rng, 500, False), transformer.sample_problems(rng, 500, True)
    assert not transformer.is_held_out(train).any() and transformer.is_held_out(test).all()
    inputs, targets = transformer.encode(np.array([[3, 1, 4, 1, 5, 9]]))
    assert inputs.tolist() == [[3, 1, 4, 1, 5, 9, 1, 1, 3, 4, 5]]
    assert targets.tolist() == [[-100, -100, -100, -100, -100, 1, 1, 3, 4, 5, 9]]
    # a short run already sorts many held-out sequences exactly (chance: about 1e-6)
    status = transformer.main(["--out", str(tmp_path), "--steps", "60", "--warmup", "10", "--test-size", "100"])
    output = capsys.readouterr().out
    accuracy = float(output.split("exact match on 100 held-out problems: ")[1].split("%")[0])
    assert accuracy >= 20, output  # 51% measured
    assert status == (0 if accuracy >= 99 else 1)
    assert "->" in output and "ms each" in output
    assert (tmp_path / "transformer_loss.png").stat().st_size > 0
    assert (tmp_path / "transformer_attention.png").stat().st_size > 0


def test_transformer_attention_maps_are_causal_distributions():
    from nn.examples import transformer

    autograd.manual_seed(0)
    model = transformer.GPT(transformer.DIGITS, transformer.BLOCK, d_model=16, dim_feedforward=32)
    maps = model.attention_maps(autograd.tensor(np.arange(7)[None] % 10), layer=1)
    assert maps.shape == (4, 7, 7)
    np.testing.assert_allclose(maps.sum(-1), 1, atol=1e-6)
    assert np.all(np.triu(maps, 1) == 0)  # no position looks ahead


def test_gcn_example_classifies_the_karate_club(tmp_path, capsys):
    from nn.examples import gcn

    edge_index, sides = gcn.karate_club()
    assert edge_index.shape == (2, 156) and len(set(map(tuple, edge_index.T))) == 156
    assert sides.sum() == 17 and sides[gcn.INSTRUCTOR] == 0 and sides[gcn.ADMINISTRATOR] == 1
    degrees = np.bincount(edge_index[0], minlength=34)
    assert degrees[0] == 16 and degrees[33] == 17 and degrees.sum() == 156
    assert gcn.main(["--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert "accuracy on the 32 unlabelled members: 96.9%" in output
    assert (tmp_path / "gcn_karate_club.png").stat().st_size > 0


def test_vae_example_learns_and_draws(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from nn.examples import vae

    assert vae.main(["--out", str(tmp_path), "--epochs", "4"]) == 0  # beats 64 ln 2 per image
    output = capsys.readouterr().out
    assert "held-out: negative ELBO" in output
    for name in ("vae_reconstructions.png", "vae_latent_space.png", "vae_loss.png"):
        assert (tmp_path / name).stat().st_size > 0
    np.testing.assert_allclose(vae._normal_quantiles(np.array([0.5, 0.975])), [0.0, 1.959964], atol=1e-5)
