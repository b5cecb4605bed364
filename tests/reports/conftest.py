"""Figures that page sections return stay open in pyplot until closed: close them per test."""

import matplotlib.pyplot as plt
import pytest


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
