"""The ONNX Runtime backend's session settings, on a one-node graph built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from service.runtimes.onnx import OnnxRuntime


def doubling_model(path: Path) -> Path:
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    node = helper.make_node("Mul", ["x", "two"], ["y"])
    graph = helper.make_graph(
        [node],
        "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[two],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_session_runs_on_its_threads_without_a_memory_pattern(tmp_path: Path) -> None:
    runtime = OnnxRuntime(doubling_model(tmp_path / "double.onnx"), threads=2)
    options = runtime.session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    assert options.enable_mem_pattern is False
    for rows in (1, 5):
        batch = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
        np.testing.assert_array_equal(runtime.predict({"x": batch}), batch * 2)
