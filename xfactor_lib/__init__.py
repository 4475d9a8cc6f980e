"""xfactor: dataset-quality research for image classification.

Modules are nouns (``data``, ``similarity``, ``selection``, ``lcr``, ``training``,
``eva``, ``baselines``, ``stats``, ``regression``, ``plots``, ``widgets``, ``sweep``),
functions are verbs. See the README for the two commands that run everything.
"""

__version__ = "0.1.0"
