"""CrystalLoader: the batches of its worker processes equal PyG's loader's, bit for bit and
dtype for dtype, whatever the transport; the buffer round trip keeps every kind of tensor."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.loader.dataloader import Collater

from cft_pyg.data import CrystalLoader, SyntheticCrystals
from cft_pyg.data.loader import dumps_batch, loads_batch


def _same(a: object, b: object) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape \
            and a.layout == b.layout and bool(torch.equal(a.to_dense() if a.is_sparse else a,
                                                          b.to_dense() if b.is_sparse else b))
    return type(a) is type(b) and a == b


def _same_batch(a: Data, b: Data) -> bool:
    keys = sorted(a.keys())  # (iterating a Data gives (key, value) pairs)
    if keys != sorted(b.keys()) or a.num_graphs != b.num_graphs:
        return False
    if not all(_same(a[k], b[k]) for k in keys):
        return False
    return all(_same(a._slice_dict[k], b._slice_dict[k]) and _same(a._inc_dict[k],
                                                                   b._inc_dict[k])
               for k in a._slice_dict)


@pytest.fixture(scope="module")
def crystals(tmp_path_factory) -> list[Data]:
    data = list(SyntheticCrystals(tmp_path_factory.mktemp("synthetic"), num_crystals=12,
                                  seed=3, num_workers=0, log=False))
    for k, d in enumerate(data):  # attributes of every kind a user may add
        d.half = torch.full((2,), k, dtype=torch.bfloat16)  # no NumPy dtype: torch's pickle
        d.flag = torch.tensor([k % 2 == 0])
        d.wide = torch.arange(6, dtype=torch.float64).reshape(2, 3).t()[:, :1]  # a view
        d.note = f"crystal {k}"
    return data


@pytest.mark.parametrize("transport", ["pickle", "shared_memory"])
def test_worker_batches_equal_pyg_batches(crystals, transport) -> None:
    reference = list(DataLoader(crystals, batch_size=5))
    loader = CrystalLoader(crystals, batch_size=5, num_workers=2, transport=transport)
    batches = list(loader)
    assert len(batches) == len(reference) == 3
    assert all(_same_batch(a, b) for a, b in zip(batches, reference, strict=True))
    assert batches[0].half.dtype == torch.bfloat16 and batches[0].note[1] == "crystal 1"


def test_differences_are_seen(crystals) -> None:
    """The comparison used above fails on a changed value or dtype."""
    a = next(iter(DataLoader(crystals, batch_size=5)))
    b = next(iter(DataLoader(crystals, batch_size=5)))
    b.pos = b.pos.clone()
    b.pos[0, 0] = torch.nextafter(b.pos[0, 0], torch.tensor(np.inf, dtype=b.pos.dtype))
    assert not _same_batch(a, b)
    c = next(iter(DataLoader(crystals, batch_size=5)))
    c.z = c.z.to(torch.int32)
    assert not _same_batch(a, c)


def test_without_workers_it_is_pygs_loader(crystals) -> None:
    loader = CrystalLoader(crystals, batch_size=4)
    assert isinstance(loader.collate_fn, Collater)
    with_workers = CrystalLoader(crystals, batch_size=4, num_workers=1)
    assert not isinstance(with_workers.collate_fn, Collater)
    shared = CrystalLoader(crystals, batch_size=4, num_workers=1, transport="shared_memory")
    assert isinstance(shared.collate_fn, Collater)


def test_batch_sampler_and_persistent_workers(crystals) -> None:
    sampler = [[3, 0], [11], [5, 7, 1]]
    loader = CrystalLoader(crystals, batch_sampler=sampler, num_workers=2,
                           persistent_workers=True)
    for _ in range(2):  # the same workers serve two epochs
        got = list(loader)
        ref = list(DataLoader(crystals, batch_sampler=sampler))
        assert all(_same_batch(a, b) for a, b in zip(got, ref, strict=True))


def test_unknown_transport(crystals) -> None:
    with pytest.raises(ValueError, match="transport"):
        CrystalLoader(crystals, transport="mmap")  # type: ignore[arg-type]


@pytest.mark.parametrize("tensor", [
    torch.randn(4, 3, dtype=torch.float64),
    torch.randn(4, 3).t(),  # not contiguous
    torch.arange(10)[2:7],  # a view into a larger storage
    torch.tensor(3.5),  # 0-dim
    torch.empty(0, 3, dtype=torch.int64),
    torch.tensor([True, False]),
    torch.tensor([1, 2], dtype=torch.uint8),
    torch.tensor([1.5, -2.0], dtype=torch.float16),
    torch.tensor([1.5, -2.0], dtype=torch.bfloat16),  # no NumPy dtype
    torch.randn(3, dtype=torch.complex64),
    torch.randn(3, dtype=torch.complex64).conj(),  # conjugate bit
    torch.randn(3, requires_grad=True),
    torch.eye(3).to_sparse(),
], ids=lambda t: f"{t.dtype}-{tuple(t.shape)}")
def test_buffer_round_trip_keeps_every_tensor(tensor) -> None:
    with warnings.catch_warnings():  # e.g. torch's "The given NumPy array is not writable"
        warnings.simplefilter("error")
        back = loads_batch(dumps_batch({"t": tensor, "s": "x"}))
    assert back["s"] == "x"
    out = back["t"]
    assert out.dtype == tensor.dtype and out.shape == tensor.shape
    assert out.requires_grad == tensor.requires_grad
    assert torch.equal(out.detach().resolve_conj().to_dense(),
                       tensor.detach().resolve_conj().to_dense())
    if out.layout is torch.strided:  # not the original's memory
        assert out.numel() == 0 or out.data_ptr() != tensor.data_ptr()


def test_views_send_only_their_elements() -> None:
    big = torch.zeros(1_000_000)
    assert len(dumps_batch(big[:10])) < 1000
    assert len(pickle.dumps(big[:10])) > 4_000_000  # what plain pickling would send
