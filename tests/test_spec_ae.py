"""A1: the spec-bound autoencoder obeys every architectural constraint of EXERCISES.md."""
import pytest
import torch
from torch import nn

from core.models.ae import SpecAE

ALLOWED = {"encoder": (nn.Conv2d, nn.MaxPool2d, nn.ReLU), "decoder": (nn.ConvTranspose2d, nn.Upsample, nn.ReLU)}
SIZE_CHANGERS = (nn.MaxPool2d, nn.Upsample)


def _layers(module):
    return [m for m in module.modules() if not list(m.children())]


def test_encoder_and_decoder_are_separate_modules_of_allowed_layers_only():
    model = SpecAE()
    for part, allowed in ALLOWED.items():
        layers = _layers(getattr(model, part))
        assert layers and all(isinstance(m, allowed) for m in layers), part
    assert not any(isinstance(m, (nn.Linear, nn.BatchNorm2d, nn.Sigmoid)) for m in model.modules())


def test_convs_are_3x3_padding_1_with_16_filters_except_the_two_ends():
    model = SpecAE()
    for part in ("encoder", "decoder"):
        convs = [m for m in _layers(getattr(model, part)) if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
        assert [c.out_channels for c in convs[:-1]] == [16] * (len(convs) - 1)
        assert convs[-1].out_channels == 1


def test_every_conv_is_followed_by_relu_and_encoder_convs_by_a_halving_pool():
    model = SpecAE()
    enc = _layers(model.encoder)
    for i, m in enumerate(enc):
        if isinstance(m, nn.Conv2d):
            assert isinstance(enc[i + 1], nn.ReLU) and isinstance(enc[i + 2], nn.MaxPool2d)
    dec = _layers(model.decoder)
    for i, m in enumerate(dec):
        if isinstance(m, nn.ConvTranspose2d):
            assert isinstance(dec[i + 1], nn.ReLU)
            # each decoder conv but the output one leads into an upsample that doubles the size
            assert i + 2 == len(dec) or isinstance(dec[i + 2], nn.Upsample)


def test_latent_shape_and_size_halves_then_doubles():
    model = SpecAE()
    x32 = torch.rand(5, 1, 32, 32)
    z = model.encoder(x32)
    assert z.shape == (5, 1, 2, 1)
    sizes = [x32.shape[-2] * x32.shape[-1]]
    h = x32
    for m in _layers(model.encoder):
        h = m(h)
        if isinstance(m, SIZE_CHANGERS):
            assert h.shape[-2] * h.shape[-1] * 2 == sizes[-1] or h.shape[-2] * h.shape[-1] * 4 == sizes[-1]
            sizes.append(h.shape[-2] * h.shape[-1])
    assert model.decoder(z).shape == (5, 1, 32, 32)
    assert model.encode(torch.rand(5, 1, 28, 28)).shape == (5, 2)
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 1, 28, 28)


def test_health_flags_a_dead_network():
    model = SpecAE()
    with torch.no_grad():
        model.decoder.net[-2].bias.fill_(-10.0)  # last transposed conv: ReLU(negative) = 0
        model.decoder.net[-2].weight.zero_()
    assert "collapsed" in model.health(torch.rand(64, 1, 28, 28))


def test_loss_is_mse_on_the_padded_frame_and_metric_on_the_28x28_centre():
    model = SpecAE()
    x = torch.rand(8, 1, 28, 28)
    loss, logs = model.loss(x)
    assert loss.requires_grad and set(logs) == {"loss", "mse"}
    with torch.no_grad():
        out = model(x)
    assert float(logs["mse"]) == pytest.approx(float(((out - x) ** 2).mean()), rel=1e-5)


@pytest.mark.parametrize("stride,padding", [(1, 1), (1, 0), (2, 1)])
def test_fast_transposed_conv_equals_torch_transposed_conv(stride, padding):
    from core.models.layers import ConvTranspose2d

    fast = ConvTranspose2d(4, 3, 3, stride=stride, padding=padding)
    reference = nn.ConvTranspose2d(4, 3, 3, stride=stride, padding=padding)
    reference.load_state_dict(fast.state_dict())
    x = torch.randn(2, 4, 7, 5, requires_grad=True)
    assert torch.allclose(fast(x), reference(x), atol=1e-6)
    g_fast = torch.autograd.grad(fast(x).square().sum(), fast.weight)[0]
    g_ref = torch.autograd.grad(reference(x).square().sum(), reference.weight)[0]
    assert torch.allclose(g_fast, g_ref, atol=1e-5)
