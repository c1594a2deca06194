"""mx.mod / mx.module: MXNet's module family on compiled C.

Module binds one symbol to a compiled library; BucketingModule keeps one Module per bucket key
with shared parameters; SequentialModule chains modules; PythonModule and PythonLossModule are
computed in Python. The submodules carry MXNet's names (mx.module.module, .base_module,
.bucketing_module, .sequential_module, .python_module, .executor_group).
"""
from .base_module import BaseModule
from .module import Module
from .bucketing_module import BucketingModule
from .sequential_module import SequentialModule
from .python_module import PythonLossModule, PythonModule
from .executor_group import DataParallelExecutorGroup

__all__ = ["BaseModule", "Module", "BucketingModule", "SequentialModule", "PythonModule",
           "PythonLossModule", "DataParallelExecutorGroup"]
