"""Running skae on a ``dask.distributed`` cluster.

skae needs nothing of its own to run on Dask: estimators pickle, so
``joblib.parallel_backend("dask")`` spreads a ``GridSearchCV`` over the
workers and ``dask_ml.wrappers.Incremental`` streams a ``dask.array`` through
``partial_fit``. What this module adds is one piece of hygiene: torch should
run each task on as many threads as the task has cores, or the concurrent
tasks of a worker fight over the cores (oversubscription). Register
:class:`TorchThreads` once per client::

    from distributed import Client, LocalCluster
    from skae.dask import limit_torch_threads

    cluster = LocalCluster(n_workers=8, threads_per_worker=1)
    client = Client(cluster)
    limit_torch_threads(client)  # every worker, present and future

This module needs ``distributed``; ``import skae`` does not import it.
"""

from numbers import Integral

from distributed import WorkerPlugin

__all__ = ["TorchThreads", "limit_torch_threads"]


class TorchThreads(WorkerPlugin):
    """Worker plugin that sets torch's intra-op thread count on each worker.

    A Dask worker runs ``nthreads`` tasks at once; torch's default is one
    thread per core for every one of them, so ``n`` concurrent fits on ``n``
    cores would start ``n * n`` threads. With one torch thread per task slot
    (the default) the tasks share the cores instead of fighting over them.
    Dask's nanny already sets ``OMP_NUM_THREADS=1`` in the worker processes
    it spawns, which torch reads at import; this plugin makes the limit
    explicit, applies it to workers started without a nanny or in threads
    (``LocalCluster(processes=False)``), and lets a worker with spare cores
    give each task more than one thread.

    Parameters
    ----------
    n_threads : int, default=1
        Number of torch threads per task: ``torch.set_num_threads(n_threads)``
        on every worker. Choose ``cores_per_worker // threads_per_worker``.

    Attributes
    ----------
    name : str
        The plugin's name on the cluster; registering another
        ``TorchThreads`` replaces this one.

    See Also
    --------
    limit_torch_threads : Register this plugin on a client.

    Notes
    -----
    Register the plugin before the workers run torch code, that is right
    after starting the client, as :func:`limit_torch_threads` is meant to be
    used. torch's OpenMP backend fixes a thread's count the first time that
    thread runs torch code, so a later registration sets the count for
    threads started from then on (workers that join later, new executor
    threads) but not for executor threads that already ran torch; to change
    it afterwards, restart the workers (``client.restart()``) after
    registering.

    ``torch.set_num_threads`` is process-wide: with
    ``LocalCluster(processes=False)`` it also sets the count of the client's
    own process.

    Examples
    --------
    >>> from skae.dask import TorchThreads
    >>> TorchThreads(n_threads=2).n_threads
    2
    """

    name = "skae-torch-threads"

    def __init__(self, n_threads=1):
        if isinstance(n_threads, bool) or not isinstance(n_threads, Integral) or n_threads < 1:
            raise ValueError(f"n_threads must be a positive integer, got {n_threads!r}.")
        self.n_threads = int(n_threads)

    def setup(self, worker):
        # Imported here: the plugin is unpickled on workers, which import torch anyway.
        import torch

        torch.set_num_threads(self.n_threads)


def limit_torch_threads(client, n_threads=1):
    """Limit torch to ``n_threads`` threads per task on every worker of ``client``.

    Registers a :class:`TorchThreads` plugin, which the scheduler also runs
    on workers that join later. Call it right after creating the client,
    before submitting work (see the notes of :class:`TorchThreads`).

    Parameters
    ----------
    client : distributed.Client
        The client of the cluster.
    n_threads : int, default=1
        Number of torch threads per task; see :class:`TorchThreads`.

    Returns
    -------
    plugin : TorchThreads
        The registered plugin.

    See Also
    --------
    TorchThreads : The worker plugin.

    Examples
    --------
    Register it right after making the client (starting a cluster takes
    seconds, so this example is not run as a doctest; ``tests/test_dask.py``
    runs it)::

        from distributed import Client, LocalCluster
        client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
        limit_torch_threads(client)
    """
    plugin = TorchThreads(n_threads)
    client.register_plugin(plugin, name=plugin.name)
    return plugin
