"""Benchmark harness: minilstm against Keras 3 and PyTorch (python -m benchmarks.run)."""
