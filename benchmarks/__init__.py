"""glassgrad's benchmark suite: `python -m benchmarks` (see benchmarks/README.md).

`workloads/` holds W1-W8 written once per engine, `worker.py` runs one engine on one workload in its own
process, `run.py` drives the workers (interleaved rounds, gradient checks between engines, memory) and
`report.py` turns the results into the markdown tables and the plot.
"""
