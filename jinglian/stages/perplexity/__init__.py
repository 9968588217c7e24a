"""Character-level language-model perplexity: how much a text reads like the clean text a model was trained on.

:mod:`model` trains and scores the n-gram model, :mod:`stage` is the
``perplexity`` pipeline stage and :mod:`commands` the ``jinglian perplexity`` CLI.
"""
