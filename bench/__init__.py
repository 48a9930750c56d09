"""Benchmarks of the course library (`course`) against PyTorch on the CPU: `make bench`.

Modules: `harness` (one thread, interleaved rounds, medians, paired ratios), `training` (the MLP
training step), `kernels` (batch normalisation, Conv2D, max pooling), `limits` (GEMM peak,
memory bandwidth), `gradcheck` (directional vs full gradient check), `mnist` (cached load),
`notebooks` (solution notebooks at full size), `report` (the tables). Results and analysis:
docs/performance.md.
"""
