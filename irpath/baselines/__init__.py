"""Simple supervised baselines that each method is compared with on the same data."""
