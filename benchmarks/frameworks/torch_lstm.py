"""PyTorch nn.LSTM + nn.Linear with a hand-written training loop.

The model matches the Keras one: Keras initializers (glorot-uniform input
weights, orthogonal recurrent weights, zero biases with the forget-gate bias
at 1), the last hidden state into Dense(1), Adam(lr=1e-3, eps=1e-7), mse, and
the epoch loss reported as Keras does (mean over samples, before each update).
"""

import torch
from torch import nn

from . import Unavailable


class Net(nn.Module):
    def __init__(self, features, units):
        super().__init__()
        self.lstm = nn.LSTM(features, units, batch_first=True)
        self.head = nn.Linear(units, 1)
        h = units
        with torch.no_grad():  # Keras defaults; torch gate order i, f, g, o = Keras i, f, c, o
            nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
            nn.init.orthogonal_(self.lstm.weight_hh_l0)
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_ih_l0[h:2 * h] = 1.0
            self.lstm.bias_hh_l0.zero_()
            nn.init.xavier_uniform_(self.head.weight)
            self.head.bias.zero_()

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def load(framework, device, threads, seed):
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    if device == "gpu":
        if not torch.cuda.is_available():
            raise Unavailable("torch sees no CUDA device")
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(seed)
    return TorchLSTM(torch.device("cuda" if device == "gpu" else "cpu"))


class TorchLSTM:
    def __init__(self, device):
        self.device = device
        self.version = f"torch {torch.__version__}" + (
            f" (cuDNN {torch.backends.cudnn.version()})" if device.type == "cuda" else "")

    def build(self, units, timesteps, features):
        net = Net(features, units).to(self.device)
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
