"""PyTorch nn.LSTM, nn.GRU or nn.RNN + nn.Linear with a hand-written training loop.

The model matches the Keras one: Keras initializers (glorot-uniform input
weights, orthogonal recurrent weights, zero biases with the LSTM's forget-gate
bias at 1), the last hidden state into Dense(1), Adam(lr=1e-3, eps=1e-7), mse,
and the epoch loss reported as Keras does (mean over samples, before each
update). The loop is the same for every cell.

- 'lstm': nn.LSTM (torch gate order i, f, g, o = Keras i, f, c, o).
- 'gru': nn.GRU. PyTorch applies the reset gate after the recurrent product,
  n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), which is Keras 3's default
  GRU (reset_after=True, one input and one recurrent bias), and
  h' = (1 - z) * n + z * h as in Keras: the comparison is like for like. Only
  the gate order differs (torch r, z, n; Keras z, r, h), which does not matter
  for initialisation since every block starts the same way.
- 'simple_rnn': nn.RNN(nonlinearity='tanh'), Keras's SimpleRNN.

Like nn.LSTM, nn.RNN carries two bias vectors where Keras has one (both start
at zero; their sum is the Keras bias), as the LSTM comparison always has.
"""

import torch
from torch import nn

from . import Unavailable


def _rnn(cell, features, units):
    if cell == "lstm":
        return nn.LSTM(features, units, batch_first=True)
    if cell == "gru":  # reset gate after the recurrent product = Keras 3 reset_after=True
        return nn.GRU(features, units, batch_first=True)
    if cell == "simple_rnn":
        return nn.RNN(features, units, nonlinearity="tanh", batch_first=True)
    raise ValueError(f"unknown cell {cell!r}")


class Net(nn.Module):
    def __init__(self, features, units, cell="lstm"):
        super().__init__()
        self.rnn = _rnn(cell, features, units)
        self.head = nn.Linear(units, 1)
        h = units
        with torch.no_grad():  # Keras defaults (see the module docstring)
            nn.init.xavier_uniform_(self.rnn.weight_ih_l0)
            nn.init.orthogonal_(self.rnn.weight_hh_l0)
            self.rnn.bias_ih_l0.zero_()
            if cell == "lstm":  # unit_forget_bias: torch's f block is the second, like Keras's
                self.rnn.bias_ih_l0[h:2 * h] = 1.0
            self.rnn.bias_hh_l0.zero_()
            nn.init.xavier_uniform_(self.head.weight)
            self.head.bias.zero_()

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def load(framework, device, threads, seed):
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    if device == "gpu":
        if not torch.cuda.is_available():
            raise Unavailable("torch sees no CUDA device")
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(seed)
    return TorchRNN(torch.device("cuda" if device == "gpu" else "cpu"))


class TorchRNN:
    def __init__(self, device):
        self.device = device
        self.version = f"torch {torch.__version__}" + (
            f" (cuDNN {torch.backends.cudnn.version()})" if device.type == "cuda" else "")

    def build(self, units, timesteps, features, cell="lstm"):
        net = Net(features, units, cell).to(self.device)
        return net, torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)

    def fit(self, model, x, y, batch_size, epochs, shuffle):
        net, opt = model
        loss_fn = nn.MSELoss()
        x = torch.from_numpy(x).to(self.device)
        y = torch.from_numpy(y).reshape(len(y), 1).to(self.device)
        n = len(x)
        net.train()
        for _ in range(epochs):
            order = torch.randperm(n, device=self.device) if shuffle else None
            total = torch.zeros((), device=self.device)
            for start in range(0, n, batch_size):
                if order is None:
                    xb, yb = x[start:start + batch_size], y[start:start + batch_size]
                else:
                    idx = order[start:start + batch_size]
                    xb, yb = x[idx], y[idx]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(xb), yb)
                loss.backward()
                opt.step()
                total += loss.detach() * len(xb)
        return float(total) / n  # one host sync per fit call

    def predict(self, model, x, batch_size):
        net, _ = model
        net.eval()
        with torch.inference_mode():
            outs = [net(torch.from_numpy(x[s:s + batch_size]).to(self.device))
                    for s in range(0, len(x), batch_size)]
            return torch.cat(outs).cpu().numpy()

    def clear(self):
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
