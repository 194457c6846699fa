"""Structures and labels in, memory-mapped graphs out: readers, the EMT dataset, the graph store, splits, subsets."""
