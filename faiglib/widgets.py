"""ipywidgets controls for live notebooks (the rendered book shows static figures instead)."""
from __future__ import annotations

__all__ = ["masking_explorer"]


def masking_explorer(exp, proportions=(0.001, 0.003, 0.01, 0.03, 0.05, 0.1)):
    """Sliders for the masked proportion and the analysis image, redrawing the Fig. 2-style grid of
    :meth:`faiglib.experiment.Experiment.example_outputs` for the chosen values. Returns the widget."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .plots import masking_grid

    n_images = len(exp.analysis_set())
    proportion = widgets.SelectionSlider(options=[(f"{p * 100:g} %", p) for p in proportions], value=0.01,
                                         description="masked")
    image = widgets.IntSlider(value=0, min=0, max=n_images - 1, description="image")
    out = widgets.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            fig = masking_grid(exp.example_outputs(proportion=proportion.value, image=image.value))
            display(fig)
            plt.close(fig)

    proportion.observe(redraw, names="value")
    image.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([proportion, image]), out])
