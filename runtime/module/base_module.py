"""mx.module.base_module: BaseModule, the high-level loops (fit, score, predict, iter_predict)
every module inherits. It lives beside Module in module.py; this is MXNet's import path."""
from .module import BaseModule

__all__ = ["BaseModule"]
