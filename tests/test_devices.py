"""check_device: unknown or unavailable devices are refused at once, with the devices that exist."""
import pytest
import torch

from faiglib.core.devices import check_device


def test_cpu_is_always_fine():
    assert check_device("cpu") == torch.device("cpu")
    assert check_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda0", "", "CPU!", 0])
def test_rejects_unknown_device_strings(name):
    with pytest.raises(ValueError, match="unknown device.*'cpu', 'cuda'"):
        check_device(name)


def test_rejects_cuda_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match=r"CUDA is not available.*use device='cpu'"):
            check_device(name)


def test_rejects_cuda_index_beyond_the_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda") == torch.device("cuda")
    assert check_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"cuda:7.*2 CUDA device\(s\).*cuda:0 \.\. cuda:1"):
        check_device("cuda:7")


def test_rejects_unavailable_mps_and_other_backends(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="MPS .*not available"):
        check_device("mps")
    with pytest.raises(ValueError, match="not supported.*'cpu', 'cuda'"):
        check_device("meta")
