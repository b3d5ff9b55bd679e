"""Impact models: thin adapters that read a scenario view and call pure method functions
(``tweeling.methods``). The contract is in :mod:`tweeling.models.base`; models are found
through the ``tweeling.models`` entry-point group (:mod:`tweeling.models.registry`)."""
