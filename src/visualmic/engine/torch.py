"""The optional PyTorch backend of the estimators (imported only when a device is given).

:class:`TorchLinear` replaces the fast estimator's matrix product and
:class:`TorchPhaseMotion` the phase method, on any PyTorch device (``"cuda"``,
``"cuda:0"``, ``"cpu"``); :func:`visualmic.engine.chain.build_estimator` plugs them in.
"""

from __future__ import annotations

import numpy as np

from .._errors import ParameterError
from ..core.motion import PhaseMotion

__all__ = ["torch_device", "TorchLinear", "TorchPhaseMotion"]


def torch_device(device: str):
    """Return ``(torch, torch.device)`` for ``device``, or raise ParameterError."""
    if not isinstance(device, str) or not device:
        raise ParameterError(f"device={device!r} must be a PyTorch device name such as "
                             "'cuda', 'cuda:0' or 'cpu'")
    try:
        import torch
    except ImportError:
        raise ParameterError(
            f"device={device!r} needs PyTorch, which is not installed; install torch or "
            "omit --device to compute with NumPy"
        ) from None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ParameterError(
            f"device={device!r} is not a PyTorch device; use 'cuda', 'cuda:0' or 'cpu'"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            f"device={device!r}: PyTorch sees no CUDA GPU here; omit --device to use the CPU"
        )
    return torch, dev


class TorchLinear:
    """The linear estimator's matrix product with PyTorch on a device."""

    def __init__(self, kernels: np.ndarray, reference: np.ndarray, device: str):
        torch, self.device = torch_device(device)
        self._torch = torch
        self.kernels = torch.from_numpy(np.ascontiguousarray(kernels)).to(self.device)
        self.reference = torch.from_numpy(reference.reshape(1, -1).copy()).to(self.device)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
            x = x.reshape(len(frames), -1).to(self.device) - self.reference
            y = x @ self.kernels
        return y.T.double().cpu().numpy()


class TorchPhaseMotion:
    """The phase method (:class:`~visualmic.core.motion.PhaseMotion`) with PyTorch on a device.

    Parameters
    ----------
    phase : PhaseMotion
        The NumPy estimator whose bands, reference and weights are used.
    device : str
        PyTorch device (``"cuda"``, ``"cpu"``, ...).
    """

    def __init__(self, phase: PhaseMotion, device):
        torch, self.device = torch_device(str(device))
        self._torch = torch
        self.pyramid = phase.pyramid
        self.weights_sum = phase.weights_sum
        self.messages: list[str] = []
        H, W = phase.pyramid.shape
        self._bands = []
        for i, plan in enumerate(phase.plan):
            flat = (plan.rows[:, None] * W + plan.cols[None, :]).reshape(-1)
            self._bands.append((
                plan.mask.shape,
                torch.from_numpy(flat.astype(np.int64)).to(self.device),
                torch.from_numpy(np.ascontiguousarray(plan.mask, np.complex64)).to(self.device),
                torch.from_numpy(np.ascontiguousarray(phase.ref_conj[i], np.complex64)).to(
                    self.device),
                torch.from_numpy(np.ascontiguousarray(phase.ref_power[i], np.float32)).to(self.device),
            ))

    @property
    def n_bands(self) -> int:
        """Number of band signals."""
        return len(self._bands)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Band signals ``(n_bands, t)`` float64 of frames ``(t, H, W)``, in radians."""
        torch = self._torch
        frames = self.pyramid._check(frames)
        t = len(frames)
        out = np.empty((self.n_bands, t))
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).to(self.device)
            spec = torch.fft.fft2(x).reshape(t, -1)
            for i, (shape, flat, mask, ref_conj, w) in enumerate(self._bands):
                sub = spec.index_select(1, flat).reshape((t,) + shape) * mask
                q = torch.fft.ifft2(sub) * ref_conj
                dphi = torch.angle(q)
                out[i] = (dphi * w).sum(dim=(1, 2)).double().cpu().numpy()
        return out / self.weights_sum[:, None]
