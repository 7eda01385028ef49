"""The training skeleton every torch generator shares (generators/training.py), on a tiny regression."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from imagelab.errors import DivergedLossError, NonFiniteLossError
from imagelab.generators.training import Batch, check_not_diverged, optimizer_steps, seeded_module, train_epochs
from imagelab.runtime.distributed import Processes

CPU = torch.device("cpu")
POOL = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))  # 10 "images" of 4 values
TARGET = POOL @ torch.tensor([1.0, -2.0, 0.5, 3.0])


def squared_error(network: nn.Module, batch: Batch) -> torch.Tensor:
    """Summed over this process's rows, scaled to the whole batch's mean (what a generator's loss does)."""
    rows = batch.part_rows
    error = network(POOL[rows]).squeeze(1) - TARGET[rows]
    return error.square().sum() / batch.loss_denominator(1)


def train(epochs: int = 3, batch_size: int = 4, loss=squared_error, **options) -> tuple[nn.Module, list]:
    model = seeded_module(lambda: nn.Linear(4, 1), seed=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    report = train_epochs(model, loss, optimizer, pool_size=len(POOL), batch_size=batch_size, epochs=epochs,
                          seed=7, device=CPU, name="toy", **options)
    return model, report.losses


def test_each_epoch_visits_the_pool_once_in_a_fresh_order_and_reports_its_mean_loss():
    seen: list[list[int]] = []

    def recording(network, batch):
        seen.append(batch.rows.tolist())
        return squared_error(network, batch)

    _, losses = train(epochs=2, batch_size=4, loss=recording)
    assert [len(rows) for rows in seen] == [4, 4, 2] * 2  # the last batch of an epoch is short
    first, second = sum(seen[:3], []), sum(seen[3:], [])
    assert sorted(first) == sorted(second) == list(range(len(POOL)))
    assert first != second  # shuffled anew each epoch
    assert len(losses) == 2 and losses[1] < losses[0]  # it learns


def test_training_is_reproducible_from_the_seed_and_leaves_the_callers_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    one, losses_one = train()
    assert torch.equal(torch.rand(1), expected)  # neither the init nor the fit drew from the global RNG
    two, losses_two = train()
    assert losses_one == losses_two
    assert all(torch.equal(a, b) for a, b in zip(one.parameters(), two.parameters()))


def test_the_schedule_steps_once_per_optimiser_step():
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    train_epochs(model, squared_error, optimizer, pool_size=len(POOL), batch_size=4, epochs=3, seed=0,
                 device=CPU, name="toy", schedule=schedule)
    assert schedule.last_epoch == optimizer_steps(len(POOL), 4, 3) == 9


def test_an_average_of_the_weights_is_kept_only_when_asked():
    raw, _ = train()
    averaged, _ = train(ema_decay=0.9)
    assert not torch.allclose(raw.weight, averaged.weight)
    unaveraged, _ = train(ema_decay=0.0)  # decay 0: the average is the last weights
    assert torch.allclose(raw.weight, unaveraged.weight)


def test_a_non_finite_loss_stops_training_naming_the_generator_and_epoch():
    def exploding(network, batch):
        return squared_error(network, batch) * float("inf")

    with pytest.raises(NonFiniteLossError, match="toy epoch 1/3"):
        train(loss=exploding)


def test_a_fit_that_blows_up_but_stays_finite_stops_naming_the_factor():
    # SGD on the squared error at a rate far too large: the loss grows geometrically, finite after 4 epochs.
    model = seeded_module(lambda: nn.Linear(4, 1), seed=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    with pytest.raises(DivergedLossError, match=r"toy fit diverged: the loss of its last epoch \(.+\) is "
                                                r".+ times its first step's \(9.37\)"):
        train_epochs(model, squared_error, optimizer, pool_size=len(POOL), batch_size=4, epochs=4, seed=7,
                     device=CPU, name="toy")
    _, losses = train(epochs=4)  # the same fit at a sane rate learns and passes
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("losses", [[5.0, 0.1], [1.0, 900.0], [-2.0, 10.0], []])
def test_only_a_last_epoch_a_thousand_times_the_first_step_counts_as_diverged(losses):
    check_not_diverged(losses, losses[0] if losses else None, "toy")  # learning, rising < 1000x, a log-likelihood
    with pytest.raises(DivergedLossError):
        check_not_diverged([0.5, 2.0], 0.002, "toy")


@pytest.mark.parametrize(("rows", "count"), [(7, 1), (7, 2), (7, 3), (1, 2)])  # 1 row over 2: an empty part
def test_the_parts_of_a_batch_cover_it_and_their_scaled_losses_average_to_its_mean(rows, count):
    batch_rows = torch.randperm(len(POOL))[:rows]
    values = TARGET.square()
    parts = [Batch.split(batch_rows, Processes(i, count), torch.Generator()) for i in range(count)]
    assert torch.equal(torch.cat([part.part_rows for part in parts]), batch_rows)  # contiguous, in order
    assert all(part.size == rows for part in parts)  # every process knows the whole batch's size
    # What DistributedDataParallel averages: the mean over processes of each part's scaled loss.
    average = sum(float(values[p.part_rows].sum()) / p.loss_denominator(1) for p in parts) / count
    assert average == pytest.approx(float(values[batch_rows].mean()))
