"""Where BasicSR imports (it needs a working torchvision), faiglib's nets must compute what BasicSR's do.

On the CPU-only stack this project is developed on, torchvision cannot be installed, so these tests are
skipped there; they run wherever `pip install faiglib[basicsr]` works.
"""
import pytest
import torch

from faiglib.models.networks import MSRResNet

archs = pytest.importorskip("basicsr.archs.srresnet_arch", reason="basicsr (and torchvision) not importable")


@pytest.mark.parametrize("upscale", [2, 3, 4])
def test_msrresnet_matches_basicsr(upscale):
    torch.manual_seed(0)
    theirs = archs.MSRResNet(num_in_ch=3, num_out_ch=3, num_feat=16, num_block=2, upscale=upscale).eval()
    ours = MSRResNet(num_feat=16, num_block=2, upscale=upscale).eval()
    assert set(ours.state_dict()) == set(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
