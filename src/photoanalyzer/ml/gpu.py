"""GPU utilization and memory while the ML phase runs, sampled in a background thread through
NVML (nvidia-ml-py), on the GPU the backend runs on. NVML numbers devices its own way,
ignoring CUDA_VISIBLE_DEVICES, so the device is found by its UUID, which torch reports for
the device it uses. Without an NVIDIA GPU, or on a CPU backend, it records nothing and
says so once.

torch writes the UUID bare ("5b8e0c1a-..."); NVML writes it with a prefix that says what the
device is: "GPU-" for a whole GPU, "MIG-" for a MIG instance (whose UUID CUDA reports in its
place). The bare UUID does not say which, and UUIDs are unique, so both are tried."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class GpuSampler:
    # The UUID of the GPU to watch, bare as torch writes it or with NVML's prefix ("GPU-5b8e...",
    # "MIG-..."); None: the models run on the CPU.
    device_uuid: str | None = None
    interval: float = 0.5
    note: str | None = None  # why nothing is recorded, when that is the case
    _utilization: list[int] = field(default_factory=list)
    _memory_mib: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> GpuSampler:
        handle = self._open()
        if handle is not None:
            self._thread = threading.Thread(target=self._sample, args=(handle,), daemon=True)
            self._thread.start()
        return self

    def _open(self):
        if self.device_uuid is None:
            self.note = "the models run on the CPU: GPU utilization is not recorded"
            return None
        try:
            import pynvml

            pynvml.nvmlInit()
            return _handle_by_uuid(pynvml, self.device_uuid)
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError
            self.note = (
                f"GPU {self.device_uuid} not found through NVML ({type(exc).__name__}): GPU "
                "utilization is not recorded"
            )
            return None

    def _sample(self, handle) -> None:
        import pynvml

        # The first sample is taken however soon stop() comes: a phase shorter than the
        # interval still gets a reading.
        while True:
            try:
                self._utilization.append(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                self._memory_mib.append(pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20)
            except pynvml.NVMLError as exc:  # a MIG instance has no utilization of its own
                if not self._utilization:
                    self.note = (
                        f"GPU {self.device_uuid}: NVML gives no utilization for it "
                        f"({type(exc).__name__}): GPU utilization is not recorded"
                    )
                return
            if self._stop.wait(self.interval):
                return

    def stop(self) -> dict | None:
        """{"utilization_mean": %, "utilization_peak": %, "memory_mean_mib", "memory_peak_mib",
        "samples"}, or None when nothing was sampled."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not self._utilization:
            return None
        return {
            "utilization_mean": round(sum(self._utilization) / len(self._utilization), 1),
            "utilization_peak": max(self._utilization),
            "memory_mean_mib": round(sum(self._memory_mib) / len(self._memory_mib), 1),
            "memory_peak_mib": round(max(self._memory_mib), 1),
            "samples": len(self._utilization),
        }


_NVML_PREFIXES = ("GPU-", "MIG-")


def _handle_by_uuid(pynvml, uuid: str):
    """NVML's handle for the device with this UUID, bare or prefixed; NVMLError if none."""
    if uuid.startswith(_NVML_PREFIXES):
        names = [uuid]
    else:
        names = [prefix + uuid for prefix in _NVML_PREFIXES]
    for name in names[:-1]:
        try:
            return pynvml.nvmlDeviceGetHandleByUUID(name)
        except pynvml.NVMLError:
            pass
    return pynvml.nvmlDeviceGetHandleByUUID(names[-1])  # the last one's error says why


def cuda_device_uuid() -> str | None:
    """The UUID of the CUDA device torch runs on, as torch writes it (bare: whether NVML
    calls it a GPU or a MIG instance is NVML's to say); None without one. torch's device
    numbers follow CUDA_VISIBLE_DEVICES, NVML's do not: the UUID is the same for both."""
    import torch

    if not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_properties(torch.cuda.current_device()).uuid)
