"""Network outputs -> answers, once for evaluation and deployment alike.

* :mod:`sonomtl.decoding.landmarks`: heat maps -> points (thresholded weighted
  mean, brightest pixel where no pixel passes), flip-test merging of a batch's
  outputs, and a frame's landmarks and measurements in mm.
* :mod:`sonomtl.decoding.ellipse_axes`: the four points of an ellipse
  measurement chosen together.
* :mod:`sonomtl.decoding.classes`: class logits -> probabilities and label.

Both :mod:`sonomtl.evaluation` and :mod:`sonomtl.inference` call these; nothing
here knows about datasets, checkpoints or training.
"""

__all__: list[str] = []
