"""Loss functions, one module per family: ``saliency``, ``landmarks``, ``adversarial``."""
