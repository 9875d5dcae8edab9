"""training: the Lightning module (``module``), what a run is asked (``config``), how its
pieces are built (``build``), trained (``fit``), evaluated (``evaluate``), written to its
folder (``runs``) and loaded back (``load.load_run``)."""
