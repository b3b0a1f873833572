"""faiglib: filter attribution (FAIG) and friends for one-branch blind super-resolution networks.

Importing the package has no side effects: no registries are scanned, nothing is downloaded or seeded.
"""
from faiglib.methods.faig import DiscriminativeFilters, FAIGResult, discriminative_filters, faig
from faiglib.core.units import FilterIndex
from faiglib.models.loading import load_sr_model
from faiglib.models.networks import MSRResNet, SRCNNStyle, build_network

__version__ = "0.1.0"
__all__ = ["faig", "FAIGResult", "discriminative_filters", "DiscriminativeFilters", "FilterIndex",
           "MSRResNet", "SRCNNStyle", "build_network", "load_sr_model", "__version__"]
