"""Measuring a model and a dataset: classification metrics from per-group sums, bootstrap and
Jeffreys intervals, subgroup and fairness evaluation, split shift, saliency maps."""
