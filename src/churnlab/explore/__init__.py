"""The exploration bench: try a hypothesis on the cached panel with the hypotheses stage's
statistics, see it as DataFrames and matplotlib figures, promote it to hypotheses.yaml; and
one account's weekly history (notebooks/explore_hypothesis.ipynb)."""
