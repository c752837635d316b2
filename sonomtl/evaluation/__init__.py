"""Evaluation: a trained run's network over a data split, scored against the split's annotations.

* :mod:`sonomtl.evaluation.evaluate`: ``sonomtl evaluate RUN_DIR``
  (:func:`~sonomtl.evaluation.evaluate.evaluate_run`): ``results.json`` and figure inputs.
* :mod:`sonomtl.evaluation.runs`: a run folder rebuilt (config, task, generator).
* :mod:`sonomtl.evaluation.msen`: M-SEN plane scores and attention maps (the one
  M-SEN prediction loop, also the experiment's).
* :mod:`sonomtl.evaluation.abdominal`: views, landmarks and measurements, decoded
  by :mod:`sonomtl.decoding` as ``sonomtl predict`` decodes them.
* :mod:`sonomtl.evaluation.abdominal_scoring`: landmark and measurement errors,
  and the second annotator's.

The paper experiments' tables stay in :mod:`sonomtl.experiments`.
"""

__all__: list[str] = []
