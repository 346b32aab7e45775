"""Provider adapters (GitHub, GitLab, local bare repo), importable as ``gitexport.providers``.

``base`` (the :class:`~gitexport.providers.base.Provider` protocol and its dataclasses),
``registry`` (name → factory; :func:`gitexport.publish.make_provider` looks providers up
there), ``errors`` (the one HTTP error mapping), one module per forge. The push algorithm is
not here: :mod:`gitexport.publish`.
"""
