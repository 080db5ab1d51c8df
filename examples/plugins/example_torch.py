"""A torch model using a custom operator (e.g. a fused kernel wrapped with
torch.library): torch.export keeps it as one node, ``example.scaled_tanh.default``,
which nnconvert does not know unless a plugin maps it.

Convert it with ``nnconvert --plugin my_layers.py convert example_torch.py:build ...``.
"""
import torch


@torch.library.custom_op("example::scaled_tanh", mutates_args=())
def scaled_tanh(x: torch.Tensor, scale: float) -> torch.Tensor:
    return torch.tanh(x * scale)


@scaled_tanh.register_fake
def _(x, scale):
    return torch.empty_like(x)


class ScaledTanhNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        y = scaled_tanh(self.conv(x), 0.5)
        return self.fc(torch.flatten(y, 1))


def build() -> torch.nn.Module:
    torch.manual_seed(0)
    return ScaledTanhNet().eval()


def example_inputs():
    return (torch.randn(1, 3, 8, 8),)
