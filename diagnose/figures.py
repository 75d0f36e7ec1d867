"""The matplotlib figures of the diagnosis report, for other reports to reuse (the demo's).

Each function returns a ``matplotlib.figure.Figure`` (or None when there is nothing to draw);
matplotlib is imported on first use. :func:`gradcam_overlay_figure` draws a ``CamReport``'s maps
over their images; :func:`slice_thumbnails_figure` and :func:`feature_distributions_figure` show
what an image or a tabular slice holds.
"""

from ._pictures import feature_distributions_figure, gradcam_overlay_figure, member_order, slice_thumbnails_figure
from ._report import confusion_figure, error_scatter_figure, slice_labels, umap_scatter_figure

__all__ = [
    "confusion_figure",
    "error_scatter_figure",
    "feature_distributions_figure",
    "gradcam_overlay_figure",
    "member_order",
    "slice_labels",
    "slice_thumbnails_figure",
    "umap_scatter_figure",
]
