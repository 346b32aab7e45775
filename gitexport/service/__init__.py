"""The export service (``gitexport-service/1``, ``../shared/canvas/SERVICE.md``).

The HTTP API the canvas's "Push to GitHub" button calls, its job store, queue and workers, and
the small security building blocks they share: settings (:mod:`.config`), service keys and
signed page links (:mod:`.auth`), the forge token encrypted at rest (:mod:`.vault`) and safe
bundle uploads (:mod:`.uploads`).
"""
