"""nbutils: the library behind the notebook suite for fine-tuning embedding models for domain retrieval.

One module per notebook stage (``decide``, ``synthesize``, ``mining``, ``training``, ``evaluation``,
``maintain``) over shared ones (``config``, ``data``, ``workspace``, ``retrieval``, ``metrics``,
``models``, ``memory``, ``plots``, ``report``, ``paths``, ``runner``, ``cli``). Nothing is done at import time.
"""

__version__ = "0.1.0"
