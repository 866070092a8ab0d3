"""The background writer: one per store and process, between ``run.log`` and the store.

``writer`` (buffers, the thread, flush and close), ``registry`` (the writers of this process, by store;
fork), ``ops`` (the events a run hands over besides points), ``batching`` (what was taken from the
buffers as one Batch; which failures are worth retrying), ``pending`` (batches a busy store could not
take yet), ``salvage`` (a refused batch written piece by piece), ``recovery`` (a store deleted under
live runs) and ``dispatch`` (the plugins' hooks, after each commit). Internal.
"""
