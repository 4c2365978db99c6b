"""Everything that imports Ray: the sweep runner, the trainable, resources, progress, actors.

Import submodules directly (raysweep.tune.sweep); this package stays import-light so that
`import raysweep.tune.resources` does not start Tune.
"""
