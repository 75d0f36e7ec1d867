"""The matplotlib figures of the diagnosis report, for other reports to reuse (the demo's).

Each function returns a ``matplotlib.figure.Figure``; matplotlib is imported on first use.
"""

from ._report import confusion_figure, error_scatter_figure, slice_labels, umap_scatter_figure

__all__ = ["confusion_figure", "error_scatter_figure", "slice_labels", "umap_scatter_figure"]
