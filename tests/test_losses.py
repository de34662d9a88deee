import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skae import AutoencoderTransformer
from skae.losses import (
    AbsoluteError,
    BinaryCrossEntropy,
    Huber,
    Lp,
    Scaled,
    SquaredError,
    Sum,
    get_loss,
)

OUT = torch.tensor([[0.0, 1.0, -2.0], [0.5, 0.5, 0.5]])
TARGET = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])


def test_squared_and_absolute_error_per_sample():
    assert torch.allclose(SquaredError()(OUT, TARGET), torch.tensor([5 / 3, 0.25]))
    assert torch.allclose(AbsoluteError()(OUT, TARGET), torch.tensor([1.0, 0.5]))


def test_huber_is_quadratic_then_linear():
    loss = Huber(delta=1.0)(OUT, TARGET)
    # 0, 0.5 * 1^2, 1 * (2 - 0.5) over 3 features
    assert torch.allclose(loss[0], torch.tensor((0 + 0.5 + 1.5) / 3))


@pytest.mark.parametrize("p, reference", [(2.0, SquaredError()), (1.0, AbsoluteError())])
def test_lp_matches_named_losses(p, reference):
    assert torch.allclose(Lp(p)(OUT, TARGET), reference(OUT, TARGET))


def test_fractional_lp_is_close_to_power_and_has_finite_gradient_at_zero():
    diff = torch.tensor([[0.0, 0.25, 4.0]], requires_grad=True)
    value = Lp(0.5, epsilon=1e-4)(diff, torch.zeros_like(diff))
    assert torch.allclose(value, torch.tensor([(0 + 0.5 + 2.0) / 3]), atol=1e-4**0.5)
    value.sum().backward()
    assert torch.isfinite(diff.grad).all()
    assert diff.grad[0, 0] == 0


def test_binary_crossentropy_is_stable_on_large_logits():
    logits = torch.tensor([[200.0, -200.0]])
    value = BinaryCrossEntropy()(logits, torch.tensor([[1.0, 0.0]]))
    assert torch.isfinite(value).all() and value.item() < 1e-6
    assert BinaryCrossEntropy().reconstruct(torch.tensor([0.0])).item() == 0.5


def test_losses_add_and_scale():
    combined = 0.5 * AbsoluteError() + SquaredError()
    assert isinstance(combined, Sum) and isinstance(combined.first, Scaled)
    expected = 0.5 * AbsoluteError()(OUT, TARGET) + SquaredError()(OUT, TARGET)
    assert torch.allclose(combined(OUT, TARGET), expected)


def test_sum_of_incompatible_outputs_is_an_error():
    with pytest.raises(ValueError, match="output activation"):
        _ = (BinaryCrossEntropy() + SquaredError()).output_activation


def test_nested_parameters_like_kernels():
    loss = Huber(0.5) + Lp(0.5)
    params = loss.get_params()
    assert params["second__p"] == 0.5 and params["first__delta"] == 0.5
    loss.set_params(second__p=0.3)
    assert loss.second.p == 0.3
    copy = clone(loss)
    assert copy is not loss and copy.second.p == 0.3
    assert pickle.loads(pickle.dumps(loss)).second.p == 0.3


@pytest.mark.parametrize("bad", [Lp(p=0), Lp(p=-1.0), Huber(delta=0)])
def test_invalid_loss_parameters_are_named(bad):
    with pytest.raises(ValueError, match="must be a number > 0"):
        bad(OUT, TARGET)


def test_get_loss_resolves_strings_callables_and_rejects_the_rest():
    assert isinstance(get_loss("huber"), Huber)
    wrapped = get_loss(lambda out, x: (out - x).abs().amax(dim=1))
    assert torch.allclose(wrapped(OUT, TARGET), torch.tensor([2.0, 0.5]))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="one value per sample"):
        get_loss(lambda out, x: (out - x).sum())(OUT, TARGET)
    with pytest.raises(TypeError):
        get_loss(3)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("squared_error", SquaredError()),
        ("l2", SquaredError()),
        ("l1", AbsoluteError()),
        ("bce", BinaryCrossEntropy()),
        ("HUBER", Huber()),
        ("huber:2", Huber(delta=2.0)),
        ("lp", Lp()),
        ("lp:1.5", Lp(p=1.5)),
        ("l1+0.5*l2", Sum(AbsoluteError(), Scaled(SquaredError(), 0.5))),
        (" 2 * huber:0.5 + lp:3 ", Sum(Scaled(Huber(delta=0.5), 2.0), Lp(p=3.0))),
    ],
)
def test_get_loss_reads_the_command_line_spellings(text, expected):
    loss = get_loss(text)
    assert repr(loss) == repr(expected)
    assert torch.allclose(loss(OUT, TARGET), expected(OUT, TARGET))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("cubic", "unknown loss 'cubic'; the losses are squared_error (l2)"),
        ("l1+cubic", "'l1+cubic': unknown loss 'cubic'"),
        ("l1+", "unknown loss ''"),
        ("l2:3", "squared_error takes no parameter"),
        ("huber:wide", "the delta of huber must be a number, got 'wide'"),
        ("lp:", "the p of lp must be a number, got ''"),
        ("half*l1", "a weight must be a number, got 'half'"),
    ],
)
def test_get_loss_names_what_it_cannot_read(text, problem):
    with pytest.raises(ValueError, match="Cannot read the loss") as error:
        get_loss(text)
    assert problem in str(error.value)


# Until _base.py's constraint for loss accepts any string and leaves it to get_loss.
def test_a_loss_string_is_an_estimator_parameter():
    X = np.random.RandomState(0).normal(size=(30, 3))
    model = AutoencoderTransformer(1, hidden_layer_sizes=(4,), loss="huber:2", max_iter=2, device="cpu")
    model.fit(X)
    assert model.loss == "huber:2"
    assert isinstance(model.loss_, Huber) and model.loss_.delta == 2.0
