"""How many workers the local executor starts when none is asked for: what the evaluator declares."""

import os

from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.evaluation.table import TableEvaluator
from pnas.evaluation.trainer import TrainingEvaluator
from pnas.execution.local import default_workers, visible_gpus


def test_training_gets_a_worker_per_gpu_or_core_and_look_ups_run_in_process():
    per_device = len(visible_gpus()) or os.cpu_count() or 1
    assert default_workers(TrainingEvaluator) == default_workers("train") == per_device
    assert default_workers(TableEvaluator) == default_workers("table") == default_workers(SyntheticEvaluator()) == 1
