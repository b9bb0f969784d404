"""Task metrics on the fixed test split, agreement with a reference variant, and the accuracy gate."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from service.contracts import Evaluation, Gate, GateStatus, OutputAgreement


def classification_metrics(logits: np.ndarray, targets: np.ndarray, labels: list[str]) -> Evaluation:
    predicted = logits.argmax(axis=1)
    classes = list(range(len(labels)))
    precision, recall, f1, _ = precision_recall_fscore_support(
        targets, predicted, labels=classes, average="macro", zero_division=0
    )
    per_class = f1_score(targets, predicted, labels=classes, average=None, zero_division=0)
    return Evaluation(
        samples=int(len(targets)),
        accuracy=round(float(accuracy_score(targets, predicted)), 4),
        macro_precision=round(float(precision), 4),
        macro_recall=round(float(recall), 4),
        macro_f1=round(float(f1), 4),
        per_class_f1={label: round(float(v), 4) for label, v in zip(labels, per_class, strict=True)},
        confusion_matrix=confusion_matrix(targets, predicted, labels=classes).tolist(),
    )


def compare_outputs(logits: np.ndarray, reference: np.ndarray) -> OutputAgreement:
    """How closely a derived variant reproduces its reference on the same inputs."""
    return OutputAgreement(
        top1_agreement=round(float((logits.argmax(1) == reference.argmax(1)).mean()), 4),
        max_abs_logit_diff=round(float(np.abs(logits - reference).max()), 5),
        mean_abs_logit_diff=round(float(np.abs(logits - reference).mean()), 5),
    )


def gate(metrics: Evaluation, reference_metrics: Evaluation | None, max_drop_points: float) -> Gate:
    """A derived variant losing more than `max_drop_points` macro-F1 points to its reference is rejected."""
    if reference_metrics is None:
        return Gate(status=GateStatus.REFERENCE, reason="reference variant (not gated)")
    drop = 100.0 * (reference_metrics.macro_f1 - metrics.macro_f1)
    detail = {"macro_f1_drop_points": round(drop, 2), "max_drop_points": max_drop_points}
    if drop > max_drop_points:
        reason = f"macro-F1 drops {drop:.2f} points below its reference (limit {max_drop_points:.2f})"
        return Gate(status=GateStatus.REJECTED, reason=reason, **detail)
    return Gate(
        status=GateStatus.ACCEPTED, reason=f"macro-F1 within {max_drop_points:.2f} points of its reference", **detail
    )
