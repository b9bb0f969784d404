"""ONNX Runtime backend (FP32 and INT8 graphs alike)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


class OnnxRuntime:
    name = "onnxruntime"

    def __init__(self, model_path: Path, threads: int) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle intra-op threads would spin for work, burning the core the event loop and the other variants need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The memory pattern plans one block per input shape on top of the arena; with batches of every shape it mostly
        # raises the peak (MiniLM-L6 INT8, a 32x64 batch: +55 MB with it, +36 MB without; the served worker's peak
        # 290 -> 237 MB) for 1-3% of speed (interleaved, in process; README Results).
        options.enable_mem_pattern = False
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_names = tuple(node.name for node in self.session.get_inputs())

    def predict(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {name: inputs[name] for name in self.input_names}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)

    def warmup(self, inputs: dict[str, np.ndarray], runs: int = 3) -> None:
        for _ in range(runs):
            self.predict(inputs)
