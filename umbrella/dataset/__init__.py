"""The scale dataset of `umbrella seed --artists …`: its size (`size`) and its builder.

Development and test databases only (the builder refuses production); the load benchmark
(`umbrella_bench`, beside the package) runs on it.
"""
