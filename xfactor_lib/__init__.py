"""xfactor: dataset-quality research for image classification.

Four layers, each importing only the ones below it (docs/architecture.md):

1. ``notebooks/`` — templates and summaries (not part of the package);
2. ``studies`` — one pipeline per study: ``studies.x``, ``studies.a``, ``studies.e``, ``studies.q``;
3. concepts, one noun each: ``similarity``, ``diversity``, ``subsets``, ``coresets``, ``greedy``,
   ``dynamics``, ``quality``, ``encoder``, ``predictor``, ``training``, ``models``, ``stats``,
   ``regression``, ``plots``, ``explore``;
4. core: ``data``, ``records``, ``sweep``, ``_validation``.

Modules are nouns, functions are verbs. See the README for the two commands that run everything.
"""

__version__ = "0.1.0"
