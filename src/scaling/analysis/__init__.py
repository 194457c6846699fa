"""Scaling-law analysis: laws, the fitting engine, bootstrap uncertainty, model selection, table loading.

Importing this package needs only numpy; pandas, lmfit and matplotlib load lazily where a feature needs them.
"""
