"""Contractive penalty: the one-hidden-layer closed form against torch.func.jacrev.

Both compute the exact ``||J_f(x)||_F^2`` of an encoder ``Linear-act-Linear``;
this times one forward and backward pass of the batch-mean penalty for each,
in the same run, and prints the ratio (jacrev time / closed-form time).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_contractive_penalty.py
"""

import time

import torch
from torch import nn

from skae.contractive import squared_jacobian_norm


def jacrev_penalty(encoder, inputs):
    def encode_one(x):
        return encoder(x.unsqueeze(0)).squeeze(0)

    return torch.func.vmap(torch.func.jacrev(encode_one))(inputs).square().sum(dim=(1, 2)).mean()


def seconds_per_step(penalty, encoder, inputs, repeats):
    for _ in range(2):  # warm-up
        penalty(encoder, inputs).backward()
    tic = time.perf_counter()
    for _ in range(repeats):
        penalty(encoder, inputs).backward()
    return (time.perf_counter() - tic) / repeats


def main():
    torch.manual_seed(0)
    print(f"{'features':>8} {'hidden':>6} {'code':>4} {'closed ms':>10} {'jacrev ms':>10} {'ratio':>6}")
    for n_features, n_hidden, n_components in [(64, 100, 2), (64, 100, 16), (784, 256, 32), (784, 256, 128)]:
        encoder = nn.Sequential(nn.Linear(n_features, n_hidden), nn.Tanh(), nn.Linear(n_hidden, n_components))
        inputs = torch.randn(256, n_features)
        closed = seconds_per_step(lambda e, x: squared_jacobian_norm(e, x).mean(), encoder, inputs, 10)
        general = seconds_per_step(jacrev_penalty, encoder, inputs, 10)
        print(
            f"{n_features:>8} {n_hidden:>6} {n_components:>4} {closed * 1e3:>10.2f} "
            f"{general * 1e3:>10.2f} {general / closed:>6.1f}"
        )


if __name__ == "__main__":
    main()
