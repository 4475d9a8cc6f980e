"""xfactor: dataset-quality research for image classification.

Packages in layers, each importing only the ones below it (docs/architecture.md; the
``lint-imports`` contract in pyproject.toml keeps it so):

1. ``explore``, ``plots`` — the face: the explorer widget, one figure per function;
2. ``studies`` — one pipeline per study: ``studies.x``, ``studies.a``, ``studies.q``, ``studies.e``;
3. concepts: ``quality``, ``subsets``; ``coresets``, ``training``; ``regression``,
   ``agreement``, ``dynamics``, ``models``;
4. engines: ``diversity`` (LCR), ``similarity`` (RMSD, kernels, embeddings, neighbours), ``stats``;
5. core: ``data``, ``sweep``, ``records``, ``_validation``.

Modules are nouns, functions are verbs. See the README for the two commands that run everything.
"""

__version__ = "0.1.0"
