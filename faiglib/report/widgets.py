"""ipywidgets controls for live notebooks (the rendered book shows static figures instead)."""
from __future__ import annotations

__all__ = ["masking_explorer", "control_explorer"]


def _figure_output(draw):
    """An ``ipywidgets.Output`` and a ``redraw(*_)`` callback that replaces its content by the figure
    ``draw()`` returns (closed after display, so figures do not pile up). Call ``redraw()`` once to fill it."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    out = widgets.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            fig = draw()
            display(fig)
            plt.close(fig)

    return out, redraw


def masking_explorer(ws, proportions=(0.001, 0.003, 0.01, 0.03, 0.05, 0.1)):
    """Sliders for the masked proportion and the analysis image, redrawing the Fig. 2-style grid of
    :meth:`faiglib.studies.masking.example_outputs` for the chosen values. Returns the widget."""
    import ipywidgets as widgets

    from faiglib.report.plots import masking_grid
    from faiglib.studies import masking

    n_images = len(ws.analysis_set())
    proportion = widgets.SelectionSlider(options=[(f"{p * 100:g} %", p) for p in proportions], value=0.01,
                                         description="masked")
    image = widgets.IntSlider(value=0, min=0, max=n_images - 1, description="image")
    out, redraw = _figure_output(lambda: masking_grid(masking.example_outputs(ws, proportion=proportion.value,
                                                                          image=image.value)))

    proportion.observe(redraw, names="value")
    image.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([proportion, image]), out])


def control_explorer(ws, proportion: float = 0.01):
    """Controllable restoration in a live notebook: a λ slider (0 to 1.5), the filter set (deblurring or
    denoising), the input (blurry or noisy) and the analysis image; redraws the input, the output with the
    chosen top-``proportion`` filters at ``λ·W_target + (1 − λ)·W_baseline``
    (:func:`faiglib.studies.control.control_strip`) and the ground truth. Returns the widget."""
    import ipywidgets as widgets

    from faiglib.studies.control import control_strip
    from faiglib.report.plots import image_row

    n_images = len(ws.analysis_set())
    lam = widgets.FloatSlider(value=1.0, min=0.0, max=1.5, step=0.1, description="λ", readout_format=".1f")
    filters = widgets.Dropdown(options=[("deblurring filters", "blur"), ("denoising filters", "noise")],
                               value="blur", description="filters")
    kind = widgets.Dropdown(options=[("blurry input", "blur"), ("noisy input", "noise")], value="blur",
                            description="input")
    image = widgets.IntSlider(value=0, min=0, max=n_images - 1, description="image")
    out, redraw = _figure_output(lambda: image_row(control_strip(ws, filters.value, kind.value, proportion,
                                                                 (round(lam.value, 3),), image.value)))

    for w in (lam, filters, kind, image):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([lam, filters]), widgets.HBox([kind, image]), out])
