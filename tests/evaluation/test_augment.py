"""Augmentation on batches: shapes kept, the crops and flips they claim, the same output for the same seed."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pnas.evaluation.augment import Augment, cutout, random_crop, random_flip


def image_batch(n=4, c=2, h=6, w=5):
    return torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w) + 1


@given(padding=st.integers(0, 4), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_a_crop_is_a_shifted_window_of_the_zero_padded_image(padding, seed):
    x = image_batch()
    out = random_crop(x, padding, torch.Generator().manual_seed(seed))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    for i in range(len(x)):
        windows = [
            padded[i, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]
            for dy in range(2 * padding + 1)
            for dx in range(2 * padding + 1)
        ]
        assert any(torch.equal(out[i], w) for w in windows)


def test_flip_mirrors_some_images_and_keeps_the_others():
    x = image_batch(n=64)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], x[i].flip(2)) for i in range(64)]
    kept = [torch.equal(out[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54


def test_cutout_zeroes_one_square_at_most_size_by_size():
    x = image_batch(n=16, h=12, w=12)
    out = cutout(x, 4, torch.Generator().manual_seed(1))
    for i in range(16):
        holes = (out[i, 0] == 0).nonzero()
        assert 0 < len(holes) <= 16
        assert holes[:, 0].max() - holes[:, 0].min() < 4 and holes[:, 1].max() - holes[:, 1].min() < 4
        assert torch.equal(out[i, 0] == 0, out[i, 1] == 0)  # the same square in every channel


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    x = image_batch(n=32, h=8, w=8)
    augment = Augment(padding=2, flip=True, cutout=3)
    first = augment(x, torch.Generator().manual_seed(5))
    assert torch.equal(first, augment(x, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, augment(x, torch.Generator().manual_seed(6)))
    assert not Augment().active and torch.equal(Augment()(x, torch.Generator()), x)
